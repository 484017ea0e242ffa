#!/usr/bin/env python3
"""Independent implementation of the Prometheus/Alertmanager label-set fingerprint.

Writes alertkit-core/tests/data/fingerprint_vectors.json, which the Rust tests
compare against. This is written from the specification (prometheus/common
model/signature.go: FNV-1a 64 over sorted name, 0xFF, value, 0xFF), in a
different language, so a shared misreading is the only way both could agree
and be wrong; the upstream test vectors are included as a cross-check.
"""
import json
import random
import sys

OFFSET = 0xCBF29CE484222325
PRIME = 0x100000001B3
MASK = (1 << 64) - 1


def fingerprint(labels):
    h = OFFSET
    for name in sorted(labels, key=lambda s: s.encode()):
        value = labels[name]
        if value == "":
            continue  # empty values mean "no label" and are dropped before hashing
        for chunk in (name.encode(), b"\xff", value.encode(), b"\xff"):
            for b in chunk:
                h ^= b
                h = (h * PRIME) & MASK
    return "%016x" % h


UPSTREAM = [
    ({}, "cbf29ce484222325"),
    ({"name": "garland, briggs", "fear": "love is not enough"}, "%016x" % 5799056148416392346),
    ({"first-label": "first-label-value"}, "476b44f5db3e21f9"),
    ({"severity": "critical", "alertname": "HighLatency", "service": "db"}, "52abb4dd02d696b5"),
]


def main():
    rng = random.Random(20261122)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/ \"'\\{}=,~!é漢🚨\n"
    cases = []
    for labels, want in UPSTREAM:
        assert fingerprint(labels) == want, (labels, fingerprint(labels), want)
        cases.append({"labels": labels, "fingerprint": want, "source": "prometheus/common signature_test.go"})
    fixed = [
        {"a": "bc"}, {"ab": "c"}, {"a": "", "b": "x"}, {"b": "x"},
        {"alertname": "KubePodCrashLooping", "namespace": "prod", "pod": "api-7d9f", "severity": "warning"},
        {"Z": "upper", "a": "lower", "_": "underscore"},
        {"漢字": "値", "emoji": "🚨🔥"},
    ]
    for labels in fixed:
        cases.append({"labels": labels, "fingerprint": fingerprint(labels), "source": "python"})
    for _ in range(200):
        n = rng.randint(0, 12)
        labels = {}
        for _ in range(n):
            name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
            value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
            labels[name] = value
        cases.append({"labels": labels, "fingerprint": fingerprint(labels), "source": "python"})
    json.dump(cases, sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
