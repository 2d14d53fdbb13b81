"""The firmware's sampling: circular buffer, sendFrequency, timestamps and values."""

from __future__ import annotations

import numpy as np
import pytest

from blitz.boards import BlitzBasicBoard, MotorBoard
from blitz.protocol import Message, decode_lines, render_command
from blitz.simulator import Firmware, WaveformModel, make_model, resolve_board
from tests.simulator.conftest import FirmwareFactory
from tests.simulator.helpers import FakeClock, lines_of, status_of


def _transmit(firmware: Firmware) -> list[str]:
    lines = lines_of(firmware.receive(b"00c0\n"))
    assert lines[-1] == f"{firmware.board_id:02x}40"
    return lines[:-1]


def _set_point(position: int) -> bytes:
    return render_command(0x09, 0x85, [position]).encode() + b"\n"


def test_buffer_keeps_at_most_n_minus_1_and_counts_overwritten(
    make_firmware: FirmwareFactory, clock: FakeClock
) -> None:
    firmware = make_firmware("basic", rate_hz=100, buffer_size=10, record=True)
    firmware.receive(b"0800\n")
    clock.advance(200)  # 20 messages into a buffer that holds 9 unsent
    assert status_of(firmware)[1:] == (True, 20 % 10, (20 - 9) % 10)
    sent = _transmit(firmware)
    generated = firmware.generated_lines()
    assert len(generated) == 20
    assert sent == generated[-9:]
    counters = firmware.counters
    assert (counters.generated, counters.transmitted, counters.overwritten) == (20, 9, 11)


def test_a_long_silence_costs_only_the_last_n_minus_1_messages(
    make_firmware: FirmwareFactory, clock: FakeClock
) -> None:
    recorded = make_firmware("basic", rate_hz=1000, buffer_size=50, record=True)
    lean = make_firmware("basic", rate_hz=1000, buffer_size=50)
    for firmware in (recorded, lean):
        firmware.receive(b"0800\n")
    clock.advance(100_000)
    assert _transmit(lean) == _transmit(recorded) == recorded.generated_lines()[-49:]
    assert lean.counters == recorded.counters
    assert lean.counters.overwritten == 100_000 - 49
    clock.advance(3_600_000)  # an hour at 1 kHz without a TRANSMIT
    assert len(_transmit(lean)) == 49
    assert lean.counters.generated == 3_700_000


def test_send_frequency_logs_every_n_plus_1_samples(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("basic", rate_hz=100, send_frequency=2, timestamps="elapsed")
    firmware.receive(b"0800\n")
    clock.advance(100)  # 10 samples: logged are samples 3, 6 and 9
    sent = [Message.parse(line) for line in _transmit(firmware)]
    assert [m.timestamp for m in sent] == [30, 60, 90]
    assert firmware.counters.samples == 10
    expected = WaveformModel(BlitzBasicBoard(), 7, 100.0).values(np.array([2, 5, 8]))
    decoded = [BlitzBasicBoard().decode(m) for m in sent]
    for name, column in expected.items():
        assert [d[name] for d in decoded] == column.tolist()
    clock.advance(20)  # samples 11, 12: 12 is logged
    assert [Message.parse(line).timestamp for line in _transmit(firmware)] == [120]


def test_timestamps_are_millis_since_boot_by_default(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("basic", rate_hz=10)
    clock.advance(5003)
    firmware.receive(b"0800\n")
    clock.advance(300)
    assert [Message.parse(line).timestamp for line in _transmit(firmware)] == [5103, 5203, 5303]


def test_elapsed_timestamps_count_from_start(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("basic", rate_hz=10, timestamps="elapsed")
    clock.advance(5003)
    firmware.receive(b"0800\n")
    clock.advance(300)
    assert [Message.parse(line).timestamp for line in _transmit(firmware)] == [100, 200, 300]


def test_start_resets_the_elapsed_clock_and_send_index(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("basic", rate_hz=10, timestamps="elapsed")
    firmware.receive(b"0800\n")
    clock.advance(250)
    assert firmware.receive(b"0800\n") == b"0840\r\n"
    assert firmware.counters.dropped == 2
    clock.advance(100)
    assert [Message.parse(line).timestamp for line in _transmit(firmware)] == [100]
    assert status_of(firmware)[2:] == (1, 1)


def test_millis_wraps_after_32_bits(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("basic", rate_hz=10, millis_offset_ms=2**32 - 150)
    firmware.receive(b"0800\n")
    clock.advance(300)
    assert [Message.parse(line).timestamp for line in _transmit(firmware)] == [2**32 - 50, 50, 150]
    assert status_of(firmware)[0].timestamp == 150


def test_stop_keeps_what_was_sampled_and_stops_sampling(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("basic", rate_hz=100)
    firmware.receive(b"0800\n")
    clock.advance(55)
    assert firmware.receive(b"0820\n") == b"0840\r\n"
    clock.advance(1000)
    assert status_of(firmware)[1:] == (False, 5, 0)
    assert firmware.counters.generated == 5


def test_samples_fall_due_at_start_plus_j_over_rate(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("basic", rate_hz=3)
    firmware.receive(b"0800\n")
    clock.advance(333)
    assert firmware.snapshot().samples == 0
    clock.advance(1)
    assert firmware.snapshot().samples == 1
    clock.advance(666)
    assert [Message.parse(line).timestamp for line in _transmit(firmware)] == [333, 666, 1000]


def test_lazy_sampling_does_not_depend_on_how_often_the_board_is_polled(clock: FakeClock) -> None:
    def run(step_ms: float) -> list[str]:
        local = FakeClock(clock.ms)
        firmware = Firmware(make_model(resolve_board("motor"), 3, 250.0), clock_ms=local, record=True)
        firmware.receive(b"0900\n" + _set_point(20))
        for _ in range(int(2000 / step_ms)):
            local.advance(step_ms)
            firmware.poll()
            if abs(local.ms - clock.ms - 1000) < step_ms / 2:
                firmware.receive(_set_point(40))
        return firmware.generated_lines()

    once, often = run(1000.0), run(1.0)
    assert len(once) == 500
    assert once == often
    set_points = [MotorBoard().decode(line)["set_point"] for line in once]
    assert set_points == [20] * 250 + [40] * 250


def test_values_are_a_pure_function_of_seed_board_and_index(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("basic", rate_hz=500, seed=11, record=True)
    firmware.receive(b"0800\n")
    clock.advance(1000)
    columns, values = BlitzBasicBoard().decode_lines(firmware.generated_lines())
    assert len(columns) == 500
    model = WaveformModel(BlitzBasicBoard(), 11, 500.0)
    indices = np.arange(500)
    expected = model.values(indices)
    for name in BlitzBasicBoard().variable_names:
        assert np.array_equal(values[name], expected[name].astype(float))
    assert np.array_equal(columns.meta, (0xA0 | model.flags(indices)))
    alone = model.values(np.array([123]))
    assert all(alone[name][0] == expected[name][123] for name in expected)


def test_values_depend_on_the_seed_and_move(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    one = make_firmware("basic", rate_hz=100, seed=1, record=True)
    same = make_firmware("basic", rate_hz=100, seed=1, record=True)
    other = make_firmware("basic", rate_hz=100, seed=2, record=True)
    for firmware in (one, same, other):
        firmware.receive(b"0800\n")
    clock.advance(10_000)
    assert one.generated_lines() == same.generated_lines()
    assert one.generated_lines() != other.generated_lines()
    _, values = BlitzBasicBoard().decode_lines(one.generated_lines())
    for column in values.values():
        assert 0 <= column.min() and column.max() <= 4095
        assert column.max() - column.min() > 500  # a wave, not a constant
    flags = decode_lines(one.generated_lines()).flags
    assert flags.any() and not flags.all()  # digital inputs toggle


def test_motor_follows_the_set_point_and_homes(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("motor", rate_hz=100)
    firmware.receive(b"0900\n" + _set_point(40))
    clock.advance(10)
    first = MotorBoard().decode(_transmit(firmware)[0])
    assert first["set_point"] == 40 and first["motor_value"] < 5
    clock.advance(5000)
    settled = MotorBoard().decode(_transmit(firmware)[-1])
    assert settled["motor_value"] == 40
    assert abs(settled["raw_adc"] - 1023) <= 2
    firmware.receive(b"0987\n")
    clock.advance(10)
    homing = MotorBoard().decode(_transmit(firmware)[0])
    assert homing["set_point"] == 0 and 35 <= homing["motor_value"] <= 40
    clock.advance(5000)
    assert MotorBoard().decode(_transmit(firmware)[-1])["motor_value"] == 0


def test_unknown_ids_get_the_basic_layout_under_their_own_id(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("3f", rate_hz=10)
    firmware.receive(b"0000\n")
    clock.advance(100)
    (line,) = _transmit(firmware)
    assert line.startswith("3fa")
    assert len(BlitzBasicBoard().decode(line)) == 5


def test_reboot_is_power_on_state(make_firmware: FirmwareFactory, clock: FakeClock) -> None:
    firmware = make_firmware("basic", rate_hz=100)
    firmware.receive(b"0800\n")
    clock.advance(50)
    firmware.receive(b"08")  # half a line is lost too
    firmware.reboot()
    assert firmware.counters.dropped == 5
    assert status_of(firmware)[0].timestamp == 0
    assert status_of(firmware)[1:] == (False, 0, 0)


@pytest.mark.parametrize("size", [1, 1025])
def test_buffer_size_must_fit_the_10_bit_status_indices(make_firmware: FirmwareFactory, size: int) -> None:
    with pytest.raises(ValueError, match="buffer size"):
        make_firmware("basic", buffer_size=size)
