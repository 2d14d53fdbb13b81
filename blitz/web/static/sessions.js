// Sessions: the logger's list synced into the local database; download with progress, delete with confirmation.
(function () {
  "use strict";
  const Blitz = window.Blitz;
  const POLL_MS = 200;
  const state = { sessions: [], progress: {}, logger: null };
  window.blitzSessions = state;   // read by the browser tests: progress[id] lists every percent shown

  function $(id) { return document.getElementById(id); }

  function localCopy(session) {
    if (session.downloaded) return Blitz.el("span", { class: "state-ok", text: "downloaded" });
    if (session.partial) {
      return Blitz.el("span", { class: "state-warn", text: session.stored_messages + " of " + session.messages + " messages" });
    }
    return Blitz.el("span", { class: "muted", text: session.running ? "running" : "not downloaded" });
  }

  function row(session) {
    const id = session.id;
    const progress = Blitz.el("progress", { max: "100", value: "0", class: "hidden", id: "progress-" + id, "aria-label": "download of session " + id });
    const percent = Blitz.el("span", { class: "muted", id: "percent-" + id });
    const actions = [];
    if (session.stored_messages > 0) {
      actions.push(Blitz.el("a", { class: "button", href: "/sessions/" + id, text: "Open" }));
      actions.push(" ");
    }
    if (!session.downloaded && state.logger && state.logger.connected) {
      actions.push(Blitz.el("button", { class: "primary", id: "download-" + id, onclick: () => download(id), text: session.partial ? "Resume download" : "Download" }));
      actions.push(" ");
    }
    actions.push(Blitz.el("button", { class: "danger", id: "delete-" + id, onclick: () => askDelete(id), text: "Delete…" }));
    actions.push(" ", progress, " ", percent);
    return Blitz.el("tr", { "data-session": String(id) }, [
      Blitz.el("td", {}, [session.stored_messages > 0 ? Blitz.el("a", { href: "/sessions/" + id, text: String(id) }) : String(id)]),
      Blitz.el("td", { text: Blitz.formatTime(session.time_started) }),
      Blitz.el("td", { class: "num", text: Blitz.formatDuration(session.duration_s) + (session.running ? " (running)" : "") }),
      Blitz.el("td", { class: "num", text: String(session.messages) }),
      Blitz.el("td", {}, [localCopy(session)]),
      Blitz.el("td", {}, actions),
    ]);
  }

  function show(data) {
    state.sessions = data.sessions;
    state.logger = data.logger;
    Blitz.showLogger(data.logger);
    const body = $("sessions");
    body.textContent = "";
    if (!data.sessions.length) {
      body.appendChild(Blitz.el("tr", {}, [Blitz.el("td", { colspan: "6", class: "muted", text: "no sessions yet" })]));
    }
    for (const session of data.sessions) body.appendChild(row(session));
    for (const job of data.downloads || []) if (job.state === "running") follow(job.session);
  }

  async function load(sync) {
    try {
      show(await Blitz.api("/api/sessions"));
      if (sync && state.logger && state.logger.connected) {
        $("sync-info").textContent = "asking the logger…";
        show(await Blitz.post("/api/sessions/sync"));
        $("sync-info").textContent = "list synced with the logger at " + new Date().toLocaleTimeString();
      } else if (sync) {
        $("sync-info").textContent = "showing the local database only";
      }
      Blitz.showError(null);
    } catch (error) {
      $("sync-info").textContent = "";
      Blitz.showError(error.message);
    }
  }

  function setProgress(id, job) {
    const bar = $("progress-" + id), text = $("percent-" + id);
    if (!bar) return;
    bar.classList.remove("hidden");
    bar.value = job.percent;
    (state.progress[id] = state.progress[id] || []).push(job.percent);
    text.textContent = job.state === "failed" ? "failed: " + job.error
      : job.percent.toFixed(0) + "% (" + job.done + " of " + job.total + " messages)";
  }

  async function follow(id) {
    if (state.progress[id] && state.progress[id].following) return;
    (state.progress[id] = state.progress[id] || []).following = true;
    try {
      for (;;) {
        const job = await Blitz.api("/api/downloads/" + id);
        setProgress(id, job);
        if (job.state !== "running") {
          if (job.state === "failed") Blitz.showError("download of session " + id + " failed: " + job.error);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    } catch (error) {
      Blitz.showError(error.message);
    }
    state.progress[id].following = false;
    const shown = state.progress[id];
    await load(false);
    const bar = $("progress-" + id);
    if (bar && shown.length) { bar.classList.remove("hidden"); bar.value = shown[shown.length - 1]; $("percent-" + id).textContent = shown[shown.length - 1].toFixed(0) + "%"; }
  }

  async function download(id) {
    const button = $("download-" + id);
    if (button) button.disabled = true;
    try {
      const answer = await Blitz.post("/api/sessions/" + id + "/download");
      setProgress(id, answer.job);
      follow(id);
    } catch (error) {
      Blitz.showError(error.message);
      if (button) button.disabled = false;
    }
  }

  function askDelete(id) {
    const dialog = $("confirm-delete");
    $("delete-id").textContent = String(id);
    $("delete-everywhere").disabled = !(state.logger && state.logger.connected);
    dialog.returnValue = "";
    dialog.onclose = async () => {
      const scope = dialog.returnValue;
      if (scope !== "local" && scope !== "everywhere") return;
      try {
        await Blitz.post("/api/sessions/" + id + "/delete", { scope: scope });
        $("sync-info").textContent = "session " + id + (scope === "local" ? ": local copy deleted" : " deleted everywhere");
        Blitz.showError(null);
      } catch (error) {
        Blitz.showError(error.message);
      }
      load(false);
    };
    dialog.showModal();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("refresh").addEventListener("click", () => load(true));
    load(true);
  });
})();
