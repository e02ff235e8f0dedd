#!/usr/bin/env python3
"""Small helpers for scripts/bench.sh: free ports, result checks, the final table.

    benchlib.py freeports N
    benchlib.py mailbox-dump FETCH_TSV           normalise `doveadm -f tab fetch` output
    benchlib.py verify SRC_DUMP DST_DUMP         "ok ..." or "MISMATCH ..." (exit 1)
    benchlib.py timev TIME_V_FILE                "rss_kb user_s sys_s"
    benchlib.py mf-json STDOUT_FILE              "copied bytes seconds failed" of the last line
    benchlib.py table RESULTS_TSV MANIFEST WORKERS
    benchlib.py backup-table BACKUP_TSV MANIFEST RESTORE_CHECK_FILE
"""

import collections
import json
import os
import socket
import sys


def freeports(n):
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def mailbox_dump(path):
    """One line per message: mailbox, INTERNALDATE, size, flags (sorted, \\Recent dropped)."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            flags = sorted(x for x in row.get("flags", "").split() if x != "\\Recent")
            out.append("\t".join([row.get("mailbox", ""), row.get("date.received", ""),
                                  row.get("size.virtual", ""), " ".join(flags)]))
    out.sort()
    sys.stdout.write("".join(x + "\n" for x in out))


def load_dump(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def verify(src_path, dst_path):
    """Compares what the target holds with the source, message by message (as multisets)."""
    src, dst = load_dump(src_path), load_dump(dst_path)
    problems, notes = [], []
    sc = collections.Counter(r[0] for r in src)
    dc = collections.Counter(r[0] for r in dst)
    for box in sorted(set(sc) | set(dc)):
        if sc[box] != dc[box]:
            problems.append("%s %d/%d" % (box, dc[box], sc[box]))
    for idx, what in ((1, "INTERNALDATE"), (2, "size"), (3, "flags")):
        s = collections.Counter((r[0], r[idx]) for r in src)
        d = collections.Counter((r[0], r[idx]) for r in dst)
        missing = sum((s - d).values())
        if missing:
            notes.append("%d differ in %s" % (missing, what))
    if problems:
        print("MISMATCH %d/%d messages: %s" % (len(dst), len(src), "; ".join(problems + notes)))
        return 1
    if notes:
        # Every message arrived, but not byte-for-byte or not with its date/flags.
        print("ok* %d/%d messages; %s" % (len(dst), len(src), "; ".join(notes)))
        return 0
    print("ok %d/%d messages; folders, dates, sizes and flags match" % (len(dst), len(src)))
    return 0


def timev(path):
    vals = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().rpartition(": ")
            vals[k] = v
    print(vals.get("Maximum resident set size (kbytes)", "0"),
          vals.get("User time (seconds)", "0"), vals.get("System time (seconds)", "0"))


def mf_json(path):
    last = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("{"):
                last = line
    try:
        r = json.loads(last or "")
        print(r.get("copied", 0), r.get("bytes", 0), r.get("seconds", 0), r.get("failed", 0))
    except ValueError:
        print("0 0 0 0")


def table(results, manifest, workers):
    """Best (fastest complete) run per tool and latency; RSS is the highest seen."""
    with open(manifest) as f:
        m = json.load(f)
    groups = collections.OrderedDict()
    with open(results) as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            r = dict(tool=c[0], delay=int(c[1]), rc=int(c[2]), secs=float(c[3]),
                     rss=int(c[4]) / 1024, cpu=float(c[5]), srv=float(c[6]), check=c[7],
                     load=c[8] if len(c) > 8 else "")
            r["ok"] = r["rc"] == 0 and r["check"].startswith("ok")
            groups.setdefault((r["tool"], r["delay"]), []).append(r)
    n, mb = m["messages"], m["bytes"] / 1e6
    print("corpus: %d messages, %.1f MB (IMAP sizes, MB = 10^6 bytes), largest %.1f MB; "
          "mailferry workers=%s" % (n, mb, m["max_message"] / 1e6, workers))
    print()
    hdr = "%-10s %5s %5s %8s %8s %7s %10s %9s %8s  %s" % (
        "tool", "RTT+", "runs", "seconds", "msgs/s", "MB/s", "peak RSS", "tool CPU",
        "srv CPU", "result")
    print(hdr)
    print("-" * len(hdr))
    speed = {}
    for (tool, delay), runs in groups.items():
        good = [r for r in runs if r["ok"]]
        best = min(good or runs, key=lambda r: r["secs"])
        rate = n / best["secs"] if best["secs"] > 0 else 0
        if good:
            speed[(tool, delay)] = rate
        times = "/".join("%.1f" % r["secs"] for r in runs)
        res = best["check"] if best["ok"] else (
            ("exit %d; " % best["rc"] if best["rc"] else "") + best["check"])
        if len(runs) > 1:
            res += "  [all runs: %ss]" % times
        print("%-10s %3dms %5d %8.1f %8.1f %7.1f %6.1f MiB %8.1fs %7.1fs  %s" % (
            tool, delay, len(runs), best["secs"], rate, mb / best["secs"] if best["secs"] else 0,
            max(r["rss"] for r in runs), best["cpu"], best["srv"], res))
    print()
    for delay in sorted({d for _, d in groups}):
        mf = speed.get(("mailferry", delay))
        for other, goal in (("dsync", 1.3), ("mbsync", 1.5)):
            o = speed.get((other, delay))
            if mf and o:
                ratio = mf / o
                print("RTT+%dms  mailferry/%-6s = %.2fx  (target >= %.1fx: %s)" % (
                    delay, other, ratio, goal, "met" if ratio >= goal else "MISSED"))
            else:
                print("RTT+%dms  mailferry/%-6s = n/a (a run failed or was skipped)"
                      % (delay, other))
    # Latency hidden: each delayed round against mailferry's own rate at 0 ms.
    base = speed.get(("mailferry", 0))
    for delay in sorted(d for d in {d for _, d in groups} if d > 0):
        mf = speed.get(("mailferry", delay))
        goal = 0.90 if delay <= 20 else 0.75 if delay <= 100 else None
        if base and mf:
            print("RTT+%dms  mailferry / its own 0 ms rate = %.0f%%%s" % (
                delay, 100 * mf / base, "" if goal is None else "  (target >= %.0f%%: %s)" % (
                    100 * goal, "met" if mf / base >= goal else "MISSED")))


def backup_table(results, manifest, restore_check):
    """Backups against tar | zstd over the same corpus bytes, the rerun, and the restore."""
    with open(manifest) as f:
        m = json.load(f)
    n, total = m["messages"], m["bytes"]
    rows = collections.OrderedDict()
    with open(results) as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            rows[c[0]] = dict(rc=int(c[1]), secs=float(c[2]), rss=int(c[3]) / 1024,
                              size=int(c[4]), note=c[5] if len(c) > 5 else "",
                              cpu=float(c[6]) if len(c) > 6 else 0.0)
    print("corpus: %d messages, %.1f MB (IMAP sizes, MB = 10^6 bytes); MB/s and ratio are "
          "over these bytes" % (n, total / 1e6))
    print()
    hdr = "%-18s %8s %8s %8s %10s %7s %11s %6s  %s" % (
        "run", "seconds", "MB/s", "msgs/s", "peak RSS", "CPU s", "on disk MB", "ratio", "notes")
    print(hdr)
    print("-" * len(hdr))
    for name, r in rows.items():
        s = r["secs"] or 1e-9
        again = name.endswith("-again")
        size = "%11.1f" % (r["size"] / 1e6) if r["size"] and not name.startswith("restore") \
            else "%11s" % "-"
        ratio = "%6.2f" % (total / r["size"]) if r["size"] and not name.startswith("restore") \
            else "%6s" % "-"
        note = ("exit %d; " % r["rc"] if r["rc"] else "") + r["note"]
        print("%-18s %8.2f %8s %8s %6.1f MiB %7.1f %s %s  %s" % (
            name, r["secs"], "-" if again else "%.1f" % (total / 1e6 / s),
            "-" if again else "%.0f" % (n / s), r["rss"], r["cpu"], size, ratio, note))
    try:
        with open(restore_check) as f:
            print("%-18s %s" % ("restore check", f.read().strip()))
    except OSError:
        pass
    print()
    limit, pipeline = rows.get("tar-zstd"), rows.get("mbsync-tar")
    for fmt in ("mbox", "tar"):
        b, again = rows.get("backup-" + fmt), rows.get("backup-%s-again" % fmt)
        if b and limit and b["rc"] == 0 and limit["rc"] == 0:
            ratio = limit["secs"] / b["secs"]
            print("backup %-4s MB/s / tar|zstd MB/s   = %3.0f%%  (target >= 85%%: %s)" % (
                fmt, 100 * ratio, "met" if ratio >= 0.85 else "MISSED"))
        if b and pipeline and b["rc"] == 0 and pipeline["rc"] == 0:
            x = pipeline["secs"] / b["secs"]
            print("backup %-4s vs mbsync + tar|zstd  = %4.1fx  (target >= 3x: %s)" % (
                fmt, x, "met" if x >= 3 else "MISSED"))
        if again:
            print("backup %-4s again, nothing new    = %5.2f s  (target < 3 s: %s)" % (
                fmt, again["secs"], "met" if again["rc"] == 0 and again["secs"] < 3 else "MISSED"))
    for what in ("backup", "restore"):
        rss = [r["rss"] for k, r in rows.items()
               if k.startswith(what + "-") and k != what + "-big"]
        if rss:
            print("mailferry %-7s peak RSS         = %5.1f MiB  (target < 150 MiB: %s)" % (
                what, max(rss), "met" if max(rss) < 150 else "MISSED"))
    big = rows.get("restore-big")
    if big:
        print("restore of a big message, peak RSS = %5.1f MiB  (target <= 100 MiB: %s)" % (
            big["rss"], "met" if big["rc"] == 0 and big["rss"] <= 100 else "MISSED"))


def raw_ingest(maildir, host, port, user, password, connections):
    """The most the target server takes: the corpus, read into memory first, APPENDed by a
    minimal client (MULTIAPPEND of up to 256 messages / 8 MiB with LITERAL+, every command of
    a connection sent without waiting, `connections` connections, folders spread over them in
    runs of 256 as mailferry's workers take them). No fetching, no checks. Prints the seconds
    of the APPEND phase, the messages and the bytes."""
    import socket
    import threading
    import time

    letters = {"S": "\\Seen", "F": "\\Flagged", "R": "\\Answered", "a": "$Forwarded"}
    msgs = []
    for d, subdirs, files in os.walk(maildir):
        if os.path.basename(d) != "cur":
            continue
        parent = os.path.basename(os.path.dirname(d))
        folder = "INBOX" if os.path.dirname(d) == maildir.rstrip("/") else parent[1:].replace(".", "/")
        for name in sorted(files):
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                data = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            flags = " ".join(letters[c] for c in name.rsplit(",", 1)[-1] if c in letters)
            when = time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(os.path.getmtime(path)))
            msgs.append((folder, flags, when, data))
    groups = []
    by_folder = collections.OrderedDict()
    for m in msgs:
        by_folder.setdefault(m[0], []).append(m)
    for folder, ms in by_folder.items():
        for i in range(0, len(ms), 256):
            groups.append(ms[i:i + 256])
    shares = [groups[i::int(connections)] for i in range(int(connections))]

    def session():
        s = socket.create_connection((host, int(port)))
        f = s.makefile("rb")
        f.readline()
        s.sendall(("a LOGIN \"%s\" \"%s\"\r\n" % (user, password)).encode())
        while not f.readline().startswith(b"a "):
            pass
        return s, f

    s, f = session()
    for folder in by_folder:
        if folder != "INBOX":
            s.sendall(('c CREATE "%s"\r\n' % folder).encode())
            while not f.readline().startswith(b"c "):
                pass
    s.close()
    sessions = [session() for _ in shares]
    failed = []

    def push(s, f, share):
        tags = []
        def reader():
            left = set(tags_all)
            while left:
                line = f.readline()
                if not line:
                    failed.append("connection closed")
                    return
                tag = line.split(b" ", 1)[0].decode(errors="replace")
                if tag in left:
                    left.discard(tag)
                    if not line.split(b" ", 2)[1].startswith(b"OK"):
                        failed.append(line.decode(errors="replace").strip())
        commands = []
        for n, group in enumerate(share):
            cmd = [('t%d APPEND "%s"' % (n, group[0][0])).encode()]
            size = 0
            for _, flags, when, data in group:
                cmd.append((' (%s) "%s" {%d+}\r\n' % (flags, when, len(data))).encode())
                cmd.append(data)
                size += len(data)
            cmd.append(b"\r\n")
            commands.append(b"".join(cmd))
            tags.append("t%d" % n)
        tags_all = list(tags)
        r = threading.Thread(target=reader)
        r.start()
        for c in commands:
            s.sendall(c)
        r.join()

    start = time.monotonic()
    threads = [threading.Thread(target=push, args=(s, f, share))
               for (s, f), share in zip(sessions, shares)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - start
    for s, _ in sessions:
        s.close()
    if failed:
        print("raw ingest failed: %s" % failed[0], file=sys.stderr)
        sys.exit(1)
    print("%.2f\t%d\t%d" % (secs, len(msgs), sum(len(m[3]) for m in msgs)))


def timed_rows(results):
    """Rows `timed` wrote: name -> exit code, seconds, peak RSS in MiB."""
    rows = {}
    with open(results) as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            rows[c[0]] = dict(rc=int(c[1]), secs=float(c[2]), rss=int(c[3]) / 1024)
    return rows


def print_checks(paths):
    """The one-line fidelity checks the script wrote, where they exist."""
    for path in paths:
        try:
            with open(path) as f:
                print("check: " + f.read().strip())
        except OSError:
            pass


def batch_table(results, small_manifest, one_manifest, accounts, *checks):
    """`mailferry batch` against one account of as many messages and a run per account."""
    rows = timed_rows(results)
    with open(small_manifest) as f:
        small = json.load(f)
    with open(one_manifest) as f:
        one = json.load(f)
    n = int(accounts)
    sizes = {"batch": (n * small["messages"], n * small["bytes"]),
             "sequential": (n * small["messages"], n * small["bytes"]),
             "one-account": (one["messages"], one["bytes"])}
    print("%-12s %8s %9s %8s %10s" % ("run", "seconds", "msgs/s", "MB/s", "peak RSS"))
    rate = {}
    for name in ("batch", "one-account", "sequential"):
        r = rows.get(name)
        if not r:
            continue
        msgs, total = sizes[name]
        rate[name] = (msgs / r["secs"], total / r["secs"])
        print("%-12s %8.2f %9.0f %8.1f %6.1f MiB%s" % (
            name, r["secs"], rate[name][0], rate[name][1] / 1e6, r["rss"],
            "" if r["rc"] == 0 else "  (exit %d)" % r["rc"]))
    print_checks(checks)
    if "batch" in rate and "one-account" in rate:
        x = rate["batch"][1] / rate["one-account"][1]
        print("batch / one account, MB/s      = %4.2fx  (target >= 0.9x: %s)" % (
            x, "met" if x >= 0.9 else "MISSED"))
    if "batch" in rate and "sequential" in rate:
        x = rate["batch"][1] / rate["sequential"][1]
        print("batch / one run per account    = %4.2fx  (target >= 3x: %s)" % (
            x, "met" if x >= 3 else "MISSED"))
    if "batch" in rows:
        rss = rows["batch"]["rss"]
        print("batch peak RSS                 = %5.1f MiB  (target <= 128 MiB: %s)" % (
            rss, "met" if rss <= 128 else "MISSED"))


def scale_table(results, small, large, *checks):
    """Each step on the small and the large folder: time, peak RSS, and the large/small ratios."""
    rows = timed_rows(results)
    print("%-8s %12s %12s %14s %14s %8s %8s" % (
        "step", "%s s" % small, "%s s" % large, "%s RSS" % small, "%s RSS" % large,
        "time x", "RSS x"))
    ratios = {}
    for step in ("run", "dsync", "rerun", "plan", "verify"):
        a, b = rows.get("%s-%s" % (step, small)), rows.get("%s-%s" % (step, large))
        if not a or not b:
            continue
        t, m = b["secs"] / max(a["secs"], 1e-9), b["rss"] / max(a["rss"], 1e-9)
        ratios[step] = (t, m, a, b)
        print("%-8s %12.2f %12.2f %10.1f MiB %10.1f MiB %7.1fx %7.2fx%s" % (
            step, a["secs"], b["secs"], a["rss"], b["rss"], t, m,
            "" if a["rc"] == 0 and b["rc"] == 0 else "  (exit %d/%d)" % (a["rc"], b["rc"])))
    print_checks(checks)
    n = int(large) / int(small)
    if "run" in ratios:
        t, m, a, b = ratios["run"]
        print("first run, large folder: %.0f msgs/s; time x %.1f for %.0fx the messages" % (
            int(large) / b["secs"], t, n))
        if "dsync" in ratios:
            d = ratios["dsync"][3]
            print("first run, large folder, mailferry / dsync = %.2fx  (target >= 1.0x: %s)" % (
                d["secs"] / b["secs"], "met" if d["secs"] >= b["secs"] else "MISSED"))
    if "rerun" in ratios:
        b = ratios["rerun"][3]
        print("no-op rerun, large folder = %.1f s  (target < 10 s: %s)" % (
            b["secs"], "met" if b["secs"] < 10 else "MISSED"))
    for step, (t, m, a, b) in ratios.items():
        if step == "dsync":
            continue
        print("%-6s large/small: time %.1fx (target <= 11x: %s), RSS %.2fx (target <= 1.2x: %s), "
              "peak %.0f MiB (target <= 64: %s)" % (
                  step, t, "met" if t <= 11 else "MISSED", m, "met" if m <= 1.2 else "MISSED",
                  b["rss"], "met" if b["rss"] <= 64 else "MISSED"))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"freeports": freeports, "mailbox-dump": mailbox_dump, "verify": verify,
          "timev": timev, "mf-json": mf_json, "table": table,
          "backup-table": backup_table, "batch-table": batch_table,
          "scale-table": scale_table, "raw-ingest": raw_ingest}[cmd]
    sys.exit(fn(*args) or 0)


if __name__ == "__main__":
    main()
