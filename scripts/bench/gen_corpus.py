#!/usr/bin/env python3
"""Deterministic benchmark corpus, written straight into a Maildir++ tree.

Same --messages/--seed -> byte-identical files, names and mtimes, so a cached corpus can be
reused and two runs compare like with like. Dovecot reads INTERNALDATE from the file mtime and
RFC822.SIZE from the ",S=" / ",W=" parts of the name, so no doveadm call is needed per message;
the caller runs `doveadm force-resync` once afterwards.

Mix (fractions of --messages): mostly 2-20 KB text mail in Chinese and English, one fifth with
a 50 KB-2 MB base64 attachment (log-uniform), one per thousand of about 10 MB. Flags: \\Seen,
\\Answered, \\Flagged, keyword $Forwarded. INTERNALDATEs spread uniformly over 2009-2024.

--big N writes a single message of about N MB instead (the memory check).
"""

import argparse
import base64
import json
import os
import random
import sys
import time

# Folder, share of the corpus. Names are UTF-8 here; on disk they are modified UTF-7.
FOLDERS = [
    ("INBOX", 0.40),
    ("已发送", 0.15),
    ("工作", 0.10),
    ("工作/项目", 0.15),
    ("Archive", 0.10),
    ("Newsletters", 0.10),
]

KEYWORDS = ["$Forwarded"]  # index 0 -> maildir letter 'a'

ZH = (
    "会议 项目 进度 报告 合同 发票 预算 客户 需求 测试 上线 版本 周报 安排 通知 审批 "
    "附件 请查收 谢谢 麻烦 确认 一下 明天 下午 上午 时间 地点 北京 上海 深圳 杭州 广州 "
    "我们 你们 他们 已经 还是 可以 需要 如果 因为 所以 但是 关于 问题 方案 讨论 结果"
).split()
EN = (
    "meeting project status report contract invoice budget customer requirement test release "
    "version weekly schedule notice approval attachment please check thanks confirm tomorrow "
    "afternoon morning time place the a of to and in for on with as is are was be this that"
).split()
NAMES = [
    ("张伟", "zhangwei"), ("王芳", "wangfang"), ("李娜", "lina"), ("刘洋", "liuyang"),
    ("陈静", "chenjing"), ("Alice Chen", "alice"), ("Bob Li", "bob"), ("Carol Wang", "carol"),
    ("David Zhao", "david"), ("Eve Sun", "eve"),
]
DOMAINS = ["163.com", "126.com", "qq.com", "example.com", "corp.example.cn"]

START = 1230768000  # 2009-01-01T00:00:00Z
END = 1735689600  # 2025-01-01T00:00:00Z
HOST = "bench"
POOL_RAW = 48 * 1024 * 1024  # random bytes behind every attachment
LINE_RAW = 57  # base64 line of 76 chars + LF


def mutf7(name):
    """One folder name component in IMAP modified UTF-7 (RFC 3501 5.1.3)."""
    out, buf = [], []

    def flush():
        if buf:
            b = "".join(buf).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            buf.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def folder_dir(root, name):
    if name == "INBOX":
        return root
    return os.path.join(root, "." + ".".join(mutf7(p) for p in name.split("/")))


def b64_header(s):
    return "=?UTF-8?B?" + base64.b64encode(s.encode()).decode() + "?="


def fmt_date(t, tz_minutes):
    lt = time.gmtime(t + tz_minutes * 60)
    sign = "+" if tz_minutes >= 0 else "-"
    tz = abs(tz_minutes)
    return time.strftime("%a, %d %b %Y %H:%M:%S ", lt) + "%s%02d%02d" % (sign, tz // 60, tz % 60)


def text_body(rng, size):
    """About `size` bytes of LF-terminated lines, Chinese or English or both."""
    lines, n = [], 0
    zh = rng.random() < 0.6
    while n < size:
        words = ZH if (zh and rng.random() < 0.8) else EN
        sep = "" if words is ZH else " "
        line = sep.join(rng.choice(words) for _ in range(rng.randint(6, 14)))
        line = line + ("。" if words is ZH else ".")
        lines.append(line)
        n += len(line.encode()) + 1
    return "\n".join(lines) + "\n"


class Pool:
    def __init__(self, seed):
        raw = random.Random(seed ^ 0x5EED).randbytes(POOL_RAW)
        self.b64 = base64.encodebytes(raw)  # 76-char lines, LF
        self.lines = len(self.b64) // 77

    def slice(self, rng, raw_bytes):
        k = max(1, raw_bytes // LINE_RAW)
        if k >= self.lines:
            reps = k // self.lines + 1
            return (self.b64 * reps)[: k * 77]
        start = rng.randrange(0, self.lines - k)
        return self.b64[start * 77 : (start + k) * 77]


def headers(rng, i, t, subject, ctype, extra=()):
    frm = rng.choice(NAMES)
    to = rng.choice(NAMES)
    tz = rng.choice([480, 480, 480, 0, -300, 60])
    fname = b64_header(frm[0]) if not frm[0].isascii() else '"%s"' % frm[0]
    tname = b64_header(to[0]) if not to[0].isascii() else '"%s"' % to[0]
    h = [
        "Return-Path: <%s@%s>" % (frm[1], rng.choice(DOMAINS)),
        "From: %s <%s@%s>" % (fname, frm[1], rng.choice(DOMAINS)),
        "To: %s <%s@%s>" % (tname, to[1], rng.choice(DOMAINS)),
        "Subject: %s" % subject,
        "Date: %s" % fmt_date(t, tz),
        "Message-ID: <bench.%d.%08x@%s>" % (i, rng.getrandbits(32), HOST),
        "MIME-Version: 1.0",
    ]
    h.extend(extra)
    h.append("Content-Type: %s" % ctype)
    return "\n".join(h) + "\n"


def subject_for(rng, i):
    if rng.random() < 0.6:
        s = "".join(rng.choice(ZH) for _ in range(rng.randint(2, 6))) + " #%d" % i
        return b64_header(s)
    return " ".join(rng.choice(EN) for _ in range(rng.randint(3, 8))) + " #%d" % i


def make_message(rng, pool, i, t, kind, attach_bytes=0):
    subject = subject_for(rng, i)
    if kind == "text":
        body = text_body(rng, rng.randint(1500, 19000))
        if rng.random() < 0.3:
            enc = base64.encodebytes(body.encode()).decode()
            head = headers(rng, i, t, subject, "text/plain; charset=utf-8",
                           ["Content-Transfer-Encoding: base64"])
            return (head + "\n" + enc).encode()
        head = headers(rng, i, t, subject, "text/plain; charset=utf-8",
                       ["Content-Transfer-Encoding: 8bit"])
        return (head + "\n" + body).encode()
    boundary = "=_bench_%d_%08x" % (i, rng.getrandbits(32))
    head = headers(rng, i, t, subject, 'multipart/mixed; boundary="%s"' % boundary)
    text = text_body(rng, rng.randint(300, 3000))
    ext = rng.choice(["pdf", "zip", "docx", "jpg", "xlsx"])
    if rng.random() < 0.5:
        fname = "报告_%d.%s" % (i, ext)
        disp = "attachment; filename*=UTF-8''%s" % "".join(
            "%%%02X" % b for b in fname.encode())
    else:
        disp = 'attachment; filename="report_%d.%s"' % (i, ext)
    parts = [
        head,
        "\nThis is a multi-part message in MIME format.\n",
        "--%s\n" % boundary,
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n",
        text,
        "--%s\n" % boundary,
        "Content-Type: application/octet-stream; name=\"a.%s\"\n" % ext,
        "Content-Transfer-Encoding: base64\nContent-Disposition: %s\n\n" % disp,
    ]
    data = "".join(parts).encode() + pool.slice(rng, attach_bytes * 3 // 4)
    return data + ("--%s--\n" % boundary).encode()


def flags_for(rng):
    f = []
    if rng.random() < 0.10:
        f.append("F")
    if rng.random() < 0.15:
        f.append("R")
    if rng.random() < 0.65:
        f.append("S")
    kw = "a" if rng.random() < 0.08 else ""
    return "".join(sorted(f)) + kw


def make_dirs(root, names):
    for name in names:
        d = folder_dir(root, name)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        if name != "INBOX":
            open(os.path.join(d, "maildirfolder"), "w").close()
        with open(os.path.join(d, "dovecot-keywords"), "w") as f:
            for n, k in enumerate(KEYWORDS):
                f.write("%d %s\n" % (n, k))


def write_message(root, folder, seq, t, data, flags, stats):
    vsize = len(data) + data.count(b"\n")  # what IMAP sees: CRLF line ends
    name = "%d.M%dP1.%s,S=%d,W=%d:2,%s" % (t, seq, HOST, len(data), vsize, flags)
    path = os.path.join(folder_dir(root, folder), "cur", name)
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (t, t))
    fs = stats["folders"].setdefault(folder, {"messages": 0, "bytes": 0})
    fs["messages"] += 1
    fs["bytes"] += vsize
    stats["messages"] += 1
    stats["bytes"] += vsize
    stats["max_message"] = max(stats["max_message"], vsize)
    for letter, key in (("S", "seen"), ("F", "flagged"), ("R", "answered"), ("a", "forwarded")):
        if letter in flags:
            stats[key] += 1
    stats["min_date"] = min(stats["min_date"], t)
    stats["max_date"] = max(stats["max_date"], t)


def new_stats():
    return {"messages": 0, "bytes": 0, "max_message": 0, "seen": 0, "flagged": 0,
            "answered": 0, "forwarded": 0, "min_date": END, "max_date": 0, "folders": {}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="Maildir root to create (must not exist)")
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--big", type=int, default=0, help="one message of about this many MB")
    ap.add_argument("--small", type=int, default=0,
                    help="this many small (1-3 KB) text messages, all in INBOX")
    ap.add_argument("--manifest", help="write counts and bytes here as JSON")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    pool = Pool(a.seed)
    stats = new_stats()
    root = a.out
    if a.small:
        make_dirs(root, ["INBOX"])
        span = END - START
        for i in range(a.small):
            t = START + span * i // a.small
            head = headers(rng, i, t, subject_for(rng, i), "text/plain; charset=utf-8",
                           ["Content-Transfer-Encoding: 8bit"])
            data = (head + "\n" + text_body(rng, rng.randint(500, 2200))).encode()
            write_message(root, "INBOX", i, t, data, flags_for(rng), stats)
    elif a.big:
        make_dirs(root, ["INBOX"])
        t = START + 86400 * 1000
        data = make_message(rng, pool, 0, t, "attach", a.big * 1000 * 1000)
        write_message(root, "INBOX", 0, t, data, "S", stats)
    else:
        make_dirs(root, [f for f, _ in FOLDERS])
        n = a.messages
        huge = max(1, n // 1000)
        kinds = ["huge"] * huge + ["attach"] * (n // 5 - huge) + ["text"] * (n - n // 5)
        rng.shuffle(kinds)
        weights = [w for _, w in FOLDERS]
        names = [f for f, _ in FOLDERS]
        for i, kind in enumerate(kinds):
            folder = rng.choices(names, weights)[0]
            t = rng.randint(START, END - 1)
            if kind == "text":
                data = make_message(rng, pool, i, t, "text")
            elif kind == "attach":
                size = int(50_000 * (2_000_000 / 50_000) ** rng.random())
                data = make_message(rng, pool, i, t, "attach", size)
            else:
                data = make_message(rng, pool, i, t, "attach", rng.randint(9_500_000, 10_500_000))
            write_message(root, folder, i, t, data, flags_for(rng), stats)
    if a.manifest:
        with open(a.manifest, "w") as f:
            json.dump(stats, f, ensure_ascii=False, indent=1)
    print("%d messages, %.1f MB" % (stats["messages"], stats["bytes"] / 1e6), file=sys.stderr)


if __name__ == "__main__":
    main()
