#!/usr/bin/env python3
"""Times searches and statistics against a running lienthong server, as its readers would ask
them (benches/audit-search.sh): each query ROUNDS times, interleaved, over one keep-alive
connection per reader; prints one JSON line per query (p50, p95, max milliseconds) and the
p95 over all searches.

    python3 audit_queries.py URL QUERIES.json ROUNDS
QUERIES.json: [{"name", "who": [system_id, secret], "path"}…]
"""
import base64
import http.client
import json
import sys
import time
import urllib.parse


def main() -> int:
    url, queries, rounds = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])
    parsed = urllib.parse.urlparse(url)
    connections = {}
    times = {q["name"]: [] for q in queries}
    for _ in range(rounds):
        for q in queries:
            who = tuple(q["who"])
            auth = base64.b64encode(f"{who[0]}:{who[1]}".encode()).decode()
            for attempt in range(2):
                conn = connections.setdefault(who, http.client.HTTPConnection(parsed.hostname, parsed.port))
                began = time.perf_counter()
                try:
                    conn.request("GET", q["path"], headers={"Authorization": f"Basic {auth}"})
                    response = conn.getresponse()
                    body = response.read()
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # The server closed an idle keep-alive connection: open another, untimed.
                    conn.close()
                    del connections[who]
                    if attempt == 1:
                        raise
            elapsed = (time.perf_counter() - began) * 1000
            if response.status != 200:
                print(f"{q['name']}: {response.status} {body[:300]!r}", file=sys.stderr)
                return 1
            times[q["name"]].append(elapsed)
            print(f"{q['name']}: {elapsed:.1f} ms", file=sys.stderr, flush=True)
            q["found"] = len(json.loads(body).get("documents", json.loads(body).get("agencies", [])))
    everything = []
    for q in queries:
        t = sorted(times[q["name"]])
        if q["name"].startswith("search"):
            everything.extend(t)
        print(json.dumps({"query": q["name"], "found": q["found"], "p50_ms": round(t[len(t) // 2], 1),
                          "p95_ms": round(t[min(len(t) - 1, int(len(t) * 0.95))], 1), "max_ms": round(t[-1], 1)}))
    everything.sort()
    print(json.dumps({"searches": len(everything),
                      "p95_ms_all_searches": round(everything[min(len(everything) - 1, int(len(everything) * 0.95))], 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
