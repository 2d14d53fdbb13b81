"""The Blitz web console: a local Twisted Web site over the client database and a logger link.

`blitz ui` builds it with `blitz.web.app.build_console`; everything the pages
need (HTML, CSS, the canvas charts in plain JavaScript) is served from
`blitz/web/static/`, so the console works offline.
"""
