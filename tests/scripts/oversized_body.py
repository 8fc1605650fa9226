"""Posts a body over the server's limit N times with Python's urllib and with requests, as an ordinary
client would, and reports for each library how many answers were a readable 413 `payload_too_large`
and which errors the others ended in (issue 17 #5.7: a server that closes while the client is still
sending makes these clients see "Broken pipe" or "Connection reset" instead of the 413).

usage: oversized_body.py BASE_URL PATH ROUNDS BYTES"""

import json
import sys
import urllib.error
import urllib.request

import requests


def with_urllib(url, body):
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def with_requests(url, body):
    answer = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
    return answer.status_code, answer.content


def main():
    base, path, rounds, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    body = b"[" + b" " * (size - 2) + b"]"
    report = {}
    for name, send in (("urllib", with_urllib), ("requests", with_requests)):
        readable, errors = 0, {}
        for _ in range(rounds):
            try:
                status, content = send(base + path, body)
                if status == 413 and json.loads(content).get("error") == "payload_too_large":
                    readable += 1
                else:
                    errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
            except Exception as failure:  # noqa: BLE001 - every failure is what is being counted
                kind = type(failure).__name__
                errors[kind] = errors.get(kind, 0) + 1
        report[name] = {"readable_413": readable, "errors": errors}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
