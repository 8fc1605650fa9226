# Agent lookup by DID in an `agents` table shaped like schema v1, 1,000 vs 1,000,000 rows, rowid vs WITHOUT ROWID,
# default page cache vs mmap: isolates the storage part of cost growth (BENCHMARKS.md, section 5). Python sqlite3,
# one connection, 1,000 distinct keys cycled; times include ~4 us of Python call overhead.
# Usage: python3 bench/scripts/sqlite-lookup-growth.py   (writes temporary files under /dev/shm/sq)
import sqlite3, os, time, hashlib
os.makedirs("/dev/shm/sq", exist_ok=True)
def build(path, n, without_rowid):
    if os.path.exists(path): os.remove(path)
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=WAL")
    wr = ", WITHOUT ROWID" if without_rowid else ""
    c.execute(f"""CREATE TABLE agents (did TEXT PRIMARY KEY, operator_id TEXT NOT NULL, public_key BLOB NOT NULL,
      thumbprint TEXT NOT NULL, status TEXT NOT NULL, allowed_scopes TEXT NOT NULL, created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL, revoked_at INTEGER) STRICT{wr}""")
    c.execute("CREATE INDEX agents_by_operator ON agents (operator_id, created_at)")
    rows = ((f"did:agent:loadgen-1234567890ab.example.com:{hashlib.sha256(str(i).encode()).hexdigest()[:32]}",
             "op_abcdefghijklmnopqrstuvwxyz", os.urandom(32), hashlib.sha256(str(-i).encode()).hexdigest()[:43],
             "active", '["bench:read","bench:write"]', 1795360000, 1795360000, None) for i in range(n))
    c.executemany("INSERT INTO agents VALUES (?,?,?,?,?,?,?,?,?)", rows)
    c.commit(); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()
def probe(path, n, mmap):
    c = sqlite3.connect(path)
    if mmap: c.execute(f"PRAGMA mmap_size={mmap}")
    keys = [f"did:agent:loadgen-1234567890ab.example.com:{hashlib.sha256(str(i*n//1000).encode()).hexdigest()[:32]}" for i in range(1000)]
    q = "SELECT did, operator_id, public_key, thumbprint, status, allowed_scopes, created_at, updated_at, revoked_at FROM agents WHERE did = ?"
    for k in keys: c.execute(q, (k,)).fetchone()
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(20):
            for k in keys: assert c.execute(q, (k,)).fetchone()
        best = min(best, (time.perf_counter() - t) / 20000)
    pages = c.execute("PRAGMA page_count").fetchone()[0] * 4096
    return best * 1e6, pages / n
for wr in (False, True):
    for n in (1000, 1000000):
        p = f"/dev/shm/sq/a-{n}-{int(wr)}.db"
        build(p, n, wr)
        for mm in (0, 268435456):
            us, bpa = probe(p, n, mm)
            print(f"without_rowid={wr} n={n} mmap={mm>0}: {us:.2f} us/lookup, {bpa:.0f} B/agent", flush=True)
        os.remove(p)
