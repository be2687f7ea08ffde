"""Messages per second of comms' send loop with DKIM signing on, beside the same loop with
signing off, measured in the same run over the same path: personalised copies of the sample
issue, journal on disk, SMTP transport, one connection to the same sink (Postfix's
`smtp-sink`, or aiosmtpd's Sink in a separate process without it).

Target: signing (rsa-sha256 with a 2048-bit key, relaxed/relaxed, eight signed fields) costs
under 30 % of the throughput, i.e. the signed loop keeps at least 0.7 of the unsigned rate.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

from bench_send import SHORT_REPEAT, _setup, free_port, measure, start_sink, timed_run
from harness import Bench, Stats

COUNT = 1_000
SELECTOR = "bench"


def child(count: int, port: int, key: str, out: Path) -> None:
    """comms' send loop, signing with KEY ("-" for none); writes `seconds bytes`."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings, plan, factory = _setup(count, root, port)
        if key != "-":
            domain = factory(plan.recipients[0], "<x@y>").sender.email.rpartition("@")[2]
            settings = dataclasses.replace(settings, dkim_domain=domain,
                                           dkim_selector=SELECTOR,
                                           dkim_private_key_file=Path(key))
        timed_run(count, root, settings, plan, factory, out)


def write_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        count, port, key, out = sys.argv[2:]
        child(int(count), int(port), key, Path(out))
        return
    bench = Bench("dkim", "DKIM: the send loop signing every message, beside the same loop "
                          "unsigned")
    port = free_port()
    sink, name = start_sink(port)
    signed: list[float] = []
    plain: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            key = tmp_path / "dkim.pem"
            write_key(key)
            out = tmp_path / "out.txt"
            bench.say(f"sink: {name} on 127.0.0.1:{port}; {COUNT:,} recipients; rsa-sha256, "
                      "2048-bit key, relaxed/relaxed")
            # Interleaved, so that noise hits both alike; short runs: more rounds.
            for _ in range(max(bench.repeat, SHORT_REPEAT)):
                for series, key_arg in ((signed, str(key)), (plain, "-")):
                    seconds, _ = measure([sys.executable, __file__, "--child", str(COUNT),
                                          str(port), key_arg, str(out)], out)
                    series.append(COUNT / seconds)
    finally:
        sink.terminate()
        sink.wait()
    bench.figure(f"comms send loop with DKIM, {COUNT:,} recipients",
                 Stats(tuple(signed), "msg/s"),
                 anchor=("same loop without DKIM", Stats(tuple(plain), "msg/s")),
                 ratio_min=0.7)
    bench.finish()


if __name__ == "__main__":
    main()
