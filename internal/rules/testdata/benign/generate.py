#!/usr/bin/env python3
"""Writes the benign corpus (*.log beside this file): honest traffic that
no default scenario may alert on. Deterministic: run it again after editing
and commit the output. Addresses are from the documentation ranges."""
import datetime, os, random

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = datetime.datetime(2026, 11, 23, 8, 0, 0)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
BROWSERS = [FIREFOX, CHROME, SAFARI]


def clf(src, t, method, target, status, size=512, user="-", ua=FIREFOX, ref="-"):
    stamp = (BASE + datetime.timedelta(seconds=t)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{src} - {user} [{stamp}] "{method} {target} HTTP/1.1" {status} {size} "{ref}" "{ua}"'


def write(name, header, entries):
    entries.sort(key=lambda e: e[0])
    with open(os.path.join(HERE, name), "w") as f:
        for line in header.strip().splitlines():
            f.write("# " + line + "\n")
        for _, line in entries:
            f.write(line + "\n")


def shop():
    # A busy shop's checkout seen through the CrowdSec extension for
    # Magento 2: thirty customers of one mobile carrier, sharing its /24,
    # each fail one payment over the day (a declined card, a mistyped
    # number); five of them fail twice a minute apart before paying; ten
    # more customers of another carrier's /48 fail once each during the
    # evening's busiest two hours.
    r = random.Random(11)
    out = []

    def payment(t, ip, method="braintree"):
        stamp = (BASE + datetime.timedelta(seconds=t))
        msg = (f'[{stamp.strftime("%Y-%m-%d %H:%M:%S")}] crowdsec-events.INFO:  '
               f'{{"type":"PAYMENT_FAILED","ip":"{ip}","x-forwarded-for-ip":"","bouncer_agent":"Magento 2 CrowdSec Bouncer/v1.0.0","payment_method":"{method}"}} []')
        return (t, f'{stamp.strftime("%b %d %H:%M:%S")} shop magento[142]: {msg}')

    for c in range(30):
        t = r.uniform(0, 24 * 3600 - 120)
        ip = f"198.51.100.{10 + c}"
        out.append(payment(t, ip))
        if c % 6 == 0:
            out.append(payment(t + r.uniform(40, 90), ip))
    for c in range(10):
        t = 11 * 3600 + r.uniform(0, 2 * 3600)
        out.append(payment(t, f"2001:db8:77:{c:x}::{c + 1:x}", "checkmo"))
    write("shop-payments.log", """
A busy shop's checkout (CrowdSec extension for Magento 2): thirty customers
of one mobile carrier's /24 each fail one payment over a day, five of them
twice a minute apart; ten customers of another carrier's /48 fail once each
during the busiest two hours.""", out)


shop()


def office():
    # 150 users behind one NAT open a basic-auth intranet between 08:00 and
    # 08:05: each browser's first request gets the normal 401 naming no
    # user, then sends credentials. Twelve users mistype once. Afterwards
    # each user views a page a minute for twenty minutes.
    r = random.Random(1)
    nat, out = "203.0.113.10", []
    for u in range(150):
        t = r.uniform(0, 300)
        ua = BROWSERS[u % 3]
        user = f"user{u:03d}"
        out.append((t, clf(nat, t, "GET", "/", 401, ua=ua)))
        t += r.uniform(2, 6)
        if u % 12 == 5:
            out.append((t, clf(nat, t, "GET", "/", 401, user=user, ua=ua)))
            t += r.uniform(3, 8)
        out.append((t, clf(nat, t, "GET", "/", 200, user=user, ua=ua)))
        for a in range(25):
            ext = [".css", ".js", ".png", ".woff2", ".svg"][a % 5]
            out.append((t + 0.02 * a, clf(nat, t + 0.02 * a, "GET", f"/static/app-{a}{ext}", 200, user=user, ua=ua, ref="https://intranet.example/")))
        out.append((t + 1, clf(nat, t + 1, "GET", "/api/me", 200, user=user, ua=ua)))
        for m in range(20):
            tp = t + 60 * (m + 1) + r.uniform(-10, 10)
            out.append((tp, clf(nat, tp, "GET", f"/wiki/page-{r.randrange(400)}", 200, user=user, ua=ua)))
    write("office-nat-basic-auth.log", """
An office of 150 users behind one NAT opening a basic-auth site: every
browser's first request is answered 401 without a user name; twelve users
mistype their password once; then a page a minute each.""", out)


def sync():
    # A Nextcloud desktop client and a davfs2 mount after a folder of 80
    # files was deleted on another device: PROPFIND bursts, then 404s on
    # every vanished file (GET, PROPFIND, DELETE), repeated at the next sync.
    out = []
    nc, dav = "198.51.100.20", "198.51.100.21"
    ncua = "Mozilla/5.0 (Linux) mirall/3.14.3 (Nextcloud, ubuntu-6.8.0 ClientArchitecture: x86_64 OsArchitecture: x86_64)"
    out.append((0, clf(nc, 0, "PROPFIND", "/remote.php/dav/files/alice/", 401, ua=ncua)))
    for sync_round in range(3):
        t0 = 1 + sync_round * 30
        for i in range(40):
            out.append((t0 + i * 0.05, clf(nc, t0 + i * 0.05, "PROPFIND", f"/remote.php/dav/files/alice/Photos/{i}/", 207, user="alice", ua=ncua)))
        for i in range(80):
            m = ["GET", "PROPFIND", "DELETE"][i % 3]
            out.append((t0 + 3 + i * 0.05, clf(nc, t0 + 3 + i * 0.05, m, f"/remote.php/dav/files/alice/Photos/2026/IMG_{i:04d}.jpg.part", 404, user="alice", ua=ncua)))
            out.append((t0 + 3 + i * 0.05, clf(nc, t0 + 3.01 + i * 0.05, "PROPFIND", f"/remote.php/dav/files/alice/Notes/note-{i}.md", 404, user="alice", ua=ncua)))
    davua = "davfs2/1.7.0 neon/0.32.5"
    for i in range(60):
        m = ["PROPFIND", "GET", "LOCK", "MOVE"][i % 4]
        out.append((100 + i * 0.1, clf(dav, 100 + i * 0.1, m, f"/webdav/projects/old/file-{i}.odt", 404, user="bob", ua=davua)))
        out.append((100 + i * 0.1, clf(dav, 100.05 + i * 0.1, "PROPFIND", f"/webdav/projects/new/{i}/", 207, user="bob", ua=davua)))
    write("sync-webdav.log", """
File-sync and WebDAV clients after deletions: PROPFIND bursts answered 207
and bursts of 404s on vanished files (GET, PROPFIND, DELETE, LOCK, MOVE).""", out)


def spa():
    # A single-page application loading 400 assets and 80 API calls in
    # three seconds, then its session expires: 30 API calls answered 403
    # before it sends its user to the login page.
    out, src = [], "198.51.100.30"
    for i in range(400):
        ext = [".js", ".css", ".png", ".svg", ".woff2", ".webp", ".json"][i % 7]
        out.append((i * 0.005, clf(src, i * 0.005, "GET", f"/assets/chunk-{i:03d}{ext}", 200, ua=CHROME)))
    for i in range(80):
        out.append((2 + i * 0.01, clf(src, 2 + i * 0.01, "GET", f"/api/v1/items/{i}?include=owner", 200, ua=CHROME)))
    for i in range(30):
        out.append((600 + i * 0.05, clf(src, 600 + i * 0.05, "GET", f"/api/v1/items/{i}", 403, ua=CHROME)))
    out.append((602, clf(src, 602, "GET", "/login", 200, ua=CHROME)))
    # The login form posts to a query named login (CentOS Web Panel's
    # form does too), and the vendored htmLawed library's own files load.
    out.append((603, clf(src, 603, "POST", "/index.php?login=valid", 302, ua=CHROME)))
    out.append((604, clf(src, 604, "GET", "/vendor/htmlawed/htmlawed/htmLawed.php", 404, ua=CHROME)))
    write("spa-assets.log", """
A single-page application loading hundreds of assets and API calls, and
the same application after its session expired (403 on every API call).""", out)


def vpn():
    r = random.Random(11)
    out = []

    def syslog(t, host, prog, msg):
        stamp = (BASE + datetime.timedelta(seconds=t)).strftime("%b %d %H:%M:%S")
        return (t, f"{stamp} {host} {prog}: {msg}")

    # A laptop whose WireGuard key went stale retries its handshake every
    # 5 seconds (plus jitter) for 90 seconds whenever it has traffic, three
    # times in half an hour.
    for start in (0, 600, 1500):
        t = start
        while t < start + 90:
            out.append(syslog(t, "gw", "kernel", f"[{5000 + t:.6f}] wireguard: wg0: Invalid handshake initiation from 198.51.100.80:51820"))
            t += 5 + r.uniform(0, 0.333)
    # An office of 150 behind one NAT browses the web site that OpenVPN's
    # port-share shares port 443 with: six connections per browser at its
    # first page between 08:00 and 08:05, two more every five minutes.
    for u in range(150):
        t = r.uniform(0, 300)
        for c in range(6):
            out.append(syslog(t + 0.05 * c, "gw", "openvpn[901]", f"203.0.113.20:{20000 + u * 40 + c} SIGTERM[soft,port-share-redirect] received, client-instance exiting"))
        for k in range(1, 7):
            tk = t + 300 * k + r.uniform(-20, 20)
            for c in range(2):
                out.append(syslog(tk + 0.1 * c, "gw", "openvpn[901]", f"203.0.113.20:{30000 + u * 40 + k * 2 + c} SIGTERM[soft,port-share-redirect] received, client-instance exiting"))
    # Road warriors on strongSwan: one mistypes her EAP password twice,
    # another his XAuth password once.
    for sa, addr, name, t in ((70, "198.51.100.81", "rw-eap", 100), (71, "198.51.100.82", "rw-xauth", 200)):
        out.append(syslog(t, "gw", "charon[15894]", f"06[NET] <{sa}> received packet: from {addr}[4500] to 192.0.2.1[4500] (480 bytes)"))
        for k in range(2 if sa == 70 else 1):
            tk = t + 10 + 15 * k
            if sa == 70:
                out.append(syslog(tk, "gw", "charon[15894]", f"06[IKE] <{name}|{sa}> EAP-MS-CHAPv2 verification failed, retry (1)"))
            else:
                out.append(syslog(tk, "gw", "charon[15894]", f"06[IKE] <{name}|{sa}> XAuth authentication of 'ivan' failed"))
            out.append(syslog(tk, "gw", "charon[15894]", f"06[NET] <{name}|{sa}> sending packet: from 192.0.2.1[4500] to {addr}[4500] (128 bytes)"))
    write("vpn-peers.log", """
VPN users: a WireGuard laptop with a stale key retrying at its own pace, an
office browsing the web site behind OpenVPN's port-share, and strongSwan
road warriors mistyping a password once or twice.""", out)


vpn()


def crawlers():
    # Search engine crawlers on a site full of broken links, some of whose
    # paths look odd: file:// copies, unexpanded ${var} and {{var}} template
    # debris, doubled slashes. One request every few seconds each.
    odd = ["/file:///C:/Users/anna/Documents/report.html", "/blog/${post.slug}", "/blog/${post.slug}/${post.id}",
           "//assets//img/logo.png", "/docs//install//", "/page/{{item.url}}", "/%7B%7Bitem.link%7D%7D",
           "/news/undefined", "/shop/null", "/search?q=${query}", "/a/b/../c.html"]
    bots = [("66.249.66.1", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 4),
            ("157.55.39.1", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 5),
            ("192.0.2.80", "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", 3),
            ("192.0.2.81", "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 3)]
    out = []
    for src, ua, step in bots:
        for i in range(300):
            t = i * step
            if i % 6 == 3:
                path, status = odd[(i // 6) % len(odd)] + ("" if i < 66 else f"?p={i}"), 404
            else:
                path, status = f"/articles/{i}", 200
            out.append((t, clf(src, t, "GET", path, status, ua=ua)))
        out.append((1, clf(src, 1, "GET", "/robots.txt", 200, ua=ua)))
    write("crawlers.log", """
Googlebot, Bingbot, MJ12bot and AhrefsBot following broken links whose
paths look odd (file://, ${var} and {{var}} debris, doubled slashes).""", out)


def monitors():
    # Uptime monitors and a load balancer's health check during a 20-minute
    # outage answered 502/503, and feed readers polling every few minutes.
    out = []
    for i in range(240):
        t = i * 30
        status = 503 if 1800 <= t < 3000 else 200
        out.append((t, clf("192.0.2.90", t, "HEAD", "/", status, ua="Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)")))
    for i in range(720):
        t = i * 10
        status = 502 if 1800 <= t < 3000 else 200
        out.append((t, clf("192.0.2.91", t, "GET", "/healthz", status, ua="kube-probe/1.31")))
    readers = [("192.0.2.95", "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 12 subscribers)"),
               ("192.0.2.96", "FreshRSS/1.24.3 (Linux; https://freshrss.org)"),
               ("192.0.2.97", "Tiny Tiny RSS/24.11 (https://tt-rss.org/)")]
    for src, ua in readers:
        for i in range(24):
            t = 7 + i * 300
            out.append((t, clf(src, t, "GET", "/feed.xml", 304, 0, ua=ua)))
            out.append((t + 1, clf(src, t + 1, "GET", "/comments/feed/", 404, ua=ua)))
            out.append((t + 2, clf(src, t + 2, "GET", "/index.rss", 301, ua=ua)))
    write("monitors-feeds.log", """
Uptime monitors and health checks through an outage (5xx for twenty
minutes), and feed readers polling a feed, a moved one and a missing one.""", out)


def dos_lookalikes():
    # What comes closest to http-dos.yaml's scenarios without being a
    # flood: a single-page application whose 300 assets and 60 API calls
    # carry its build number or a hash as cache buster, served over HTTP/2
    # and HTTP/3; a dashboard polling with a time stamp as query every two
    # seconds; a CI job whose three clients meet validation errors (400);
    # an office's browsers behind one NAT each meeting one 400 and one
    # 408 (a request that timed out) in twenty minutes.
    out = []

    def proto_clf(src, t, target, status, ua, proto):
        return clf(src, t, "GET", target, status, ua=ua).replace(" HTTP/1.1\"", f" {proto}\"")

    src = "198.51.100.40"
    for i in range(300):
        ext = [".js", ".css", ".png", ".woff2", ".svg", ".webp"][i % 6]
        q = "?20261123" if i % 2 else f"?v={i * 2654435761 % 16**8:08x}"
        out.append((i * 0.01, proto_clf(src, i * 0.01, f"/assets/chunk-{i:03d}{ext}{q}", 200, CHROME, "HTTP/2.0")))
    for i in range(60):
        out.append((3 + i * 0.02, proto_clf(src, 3 + i * 0.02, f"/api/items/{i}?20261123", 200, CHROME, "HTTP/3.0")))
    src = "198.51.100.41"
    for i in range(600):
        t = i * 2
        out.append((t, clf(src, t, "GET", f"/status?{1795420800 + t}", 200, ua=FIREFOX)))
    src = "198.51.100.42"
    for i in range(30):
        t = i * 10
        ua = ["curl/8.5.0", "python-requests/2.32.3", "Go-http-client/2.0"][i % 3]
        out.append((t, clf(src, t, "POST", "/api/v1/builds", 400, ua=ua)))
    src = "203.0.113.43"
    for u in range(12):
        ua = f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{120 + u}.0) Gecko/20100101 Firefox/{120 + u}.0"
        out.append((u * 100, clf(src, u * 100, "POST", "/contact", 400, ua=ua)))
        out.append((u * 100 + 30, clf(src, u * 100 + 30, "GET", "/", 408, ua=ua)))
    # A browser whose page loads run into a tight limit_req zone: three
    # refusals on one load, two on another five minutes later.
    for t, n in ((1500, 3), (1800, 2)):
        for k in range(n):
            stamp = (BASE + datetime.timedelta(seconds=t)).strftime("%Y/%m/%d %H:%M:%S")
            out.append((t, f'{stamp} [error] 4065#4065: *{4000 + t + k} limiting requests, excess: 10.{k}00 by zone "pages", '
                           f'client: 198.51.100.44, server: example.org, request: "GET /assets/app-{k}.js HTTP/2.0", host: "example.org", '
                           f'referrer: "https://example.org/"'))
    write("dos-lookalikes.log", """
Clients that come closest to the DoS scenarios: a single-page application
with build numbers and hashes as cache busters over HTTP/2 and HTTP/3, a
dashboard polling with a time stamp, a CI job's three clients meeting 400s,
an office's browsers behind one NAT each meeting one 400 and one 408, a
browser refused by a tight limit_req zone three times on one page load.""", out)



# Called here rather than from the call line at the end, which every new
# corpus file edits.
dos_lookalikes()


def ci():
    # A CI system calling a forge's API: 1500 requests in ten minutes from
    # one runner, a few 404s for artifacts not built yet, 409s on retries.
    out, src = [], "192.0.2.120"
    ua = "gitlab-runner 17.5.0 (17-5-stable; go1.22.7; linux/amd64)"
    for i in range(1500):
        t = i * 0.4
        k = i % 10
        if k == 0:
            line = clf(src, t, "POST", "/api/v4/jobs/request", 201, ua=ua)
        elif k == 1:
            line = clf(src, t, "PATCH", f"/api/v4/jobs/{1000 + i // 10}/trace", 202, ua=ua)
        elif k == 2 and i % 100 == 2:
            line = clf(src, t, "GET", f"/api/v4/projects/12/jobs/artifacts/main/download?job=build-{i // 100}", 404, ua=ua)
        elif k == 3 and i % 50 == 3:
            line = clf(src, t, "PUT", f"/api/v4/jobs/{1000 + i // 10}", 409, ua=ua)
        else:
            line = clf(src, t, "GET", f"/api/v4/projects/12/pipelines/{500 + i // 30}", 200, ua=ua)
        out.append((t, line))
    write("ci-api.log", """
A CI runner calling a forge's API for ten minutes: jobs, traces, pipeline
polls, a few missing artifacts (404) and conflicts on retries (409).""", out)


def mail():
    # Phones with a stale password: each retries three times in a few
    # seconds at every push interval (15 minutes) for four hours.
    out = []
    for p, (src, user) in enumerate([("198.51.100.50", "carol"), ("198.51.100.51", "dave@example.com")]):
        for k in range(16):
            for a in range(3):
                t = p * 40 + k * 900 + a * 3
                stamp = (BASE + datetime.timedelta(seconds=t)).strftime("%b %d %H:%M:%S")
                out.append((t, f"{stamp} mx dovecot[900]: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<{user}>, method=PLAIN, rip={src}, lip=192.0.2.1, TLS, session=<s{p}{k}{a}AbCdEf>"))
    write("mail-stale-password.log", """
Mobile mail clients with a stale password retrying at every push interval.""", out)


def mail_role_mailboxes():
    # Real mailboxes whose names are on mail-trap-login's list. admin@'s
    # laptop reads mail over IMAP and sends through Postfix's submission
    # port at 08:00; at 08:02 the user changes the password there, and the
    # phone, still holding the old one, fails on IMAP every five minutes and
    # on SMTP every fifteen for four hours. A helpdesk machine polls the
    # support mailbox over POP3 every ten minutes; a second one, left with
    # the old password, fails at the same pace.
    out = []

    def syslog(t, prog, msg):
        stamp = (BASE + datetime.timedelta(seconds=t)).strftime("%b %d %H:%M:%S")
        return (t, f"{stamp} mx {prog}: {msg}")

    laptop, phone, desk, desk2 = "198.51.100.30", "203.0.113.45", "198.51.100.31", "198.51.100.32"
    out.append(syslog(0, "dovecot[900]", f"imap-login: Login: user=<admin@example.org>, method=PLAIN, rip={laptop}, lip=192.0.2.1, mpid=5100, TLS, session=<LaPt0pAbCdEf>"))
    out.append(syslog(40, "postfix/submission/smtpd[5200]", f"3F2A1B0C9D: client=laptop.example.org[{laptop}], sasl_method=PLAIN, sasl_username=admin@example.org"))
    for k in range(48):
        t = 120 + k * 300
        out.append(syslog(t, "dovecot[900]", f"auth: passwd-file(admin@example.org,{phone},<Ph{k:03d}AbCdEf>): Password mismatch"))
        out.append(syslog(t + 1, "dovecot[900]", f"imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<admin@example.org>, method=PLAIN, rip={phone}, lip=192.0.2.1, TLS, session=<Ph{k:03d}AbCdEf>"))
        if k % 3 == 0:
            out.append(syslog(t + 30, "postfix/submission/smtpd[5300]", f"warning: unknown[{phone}]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=admin@example.org"))
    for k in range(24):
        t = 60 + k * 600
        out.append(syslog(t, "dovecot[900]", f"pop3-login: Login: user=<support@example.org>, method=PLAIN, rip={desk}, lip=192.0.2.1, mpid={6000 + k}, TLS, session=<Dk{k:03d}AbCdEf>"))
        out.append(syslog(t + 20, "dovecot[900]", f"pop3-login: Aborted login (auth failed, 1 attempts in 2 secs): user=<support@example.org>, method=PLAIN, rip={desk2}, lip=192.0.2.1, TLS, session=<Dx{k:03d}AbCdEf>"))
    write("mail-role-mailboxes.log", """
Real mailboxes named like trap names (admin@, support@), in use: after the
laptop logs in, the phone with the old password fails every five minutes
(IMAP) and every fifteen (SMTP); a second helpdesk machine with an old
password fails on POP3 every ten minutes while the first logs in.""", out)


def mail_providers():
    # Large providers' outbound servers relay some spam among their honest
    # mail: one relays a message MailScanner scores as ordinary spam every
    # six minutes for four hours, and one scoring 20 or more every 45
    # minutes; another's spam passes sa-exim at the same pace.
    out = []
    for k in range(40):
        t = k * 360
        stamp = (BASE + datetime.timedelta(seconds=t)).strftime("%b %d %H:%M:%S")
        out.append((t, f"{stamp} mx MailScanner[{18000 + k}]: Message {k:04d}AbCdEfGhIj from 198.51.100.70 (user{k}@provider.example) to example.org is spam, SpamAssassin (not cached, score={6 + k % 9}.{k % 10}, required 5, BAYES_80 2.00)"))
        stamp = (BASE + datetime.timedelta(seconds=t + 7)).strftime("%b %d %H:%M:%S")
        out.append((t + 7, f"{stamp} mx exim[{4200 + k}]: 1VxQ{k:02d}-000Abc-Q1 SA: Action: flagged as Spam but accepted: score={5 + k % 7}.5 required=5.0 (scanned in 2/2 secs | Message-Id: <{k}.x@mail.provider.example>). From <user{k}@provider.example> (host=out.provider.example [198.51.100.71]) for alice@example.org"))
    for k in range(6):
        t = 100 + k * 2700
        stamp = (BASE + datetime.timedelta(seconds=t)).strftime("%b %d %H:%M:%S")
        out.append((t, f"{stamp} mx MailScanner[{19000 + k}]: Message {k:04d}XyZaBcDeFg from 198.51.100.70 (sender{k}@provider.example) to example.org is spam, SpamAssassin (not cached, score={21 + k}.0, required 5, BAYES_99 5.00)"))
    write("mail-provider-spam.log", """
Large providers' servers relaying some spam among their honest mail: ordinary
spam every six minutes and one high-scoring message every 45 minutes.""", out)


def apps():
    # A calendar app with a stale Nextcloud password, and a WordPress
    # author in the block editor.
    out = []
    for k in range(60):
        t = k * 120
        stamp = (BASE + datetime.timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        out.append((t, '{"reqId":"r%03d","level":2,"time":"%s","remoteAddr":"198.51.100.60","user":"--","app":"core","method":"PROPFIND","url":"/remote.php/dav/calendars/erin/","message":"Login failed: erin (Remote IP: 198.51.100.60)","userAgent":"DAVx5/4.4.2-ose (2024/09/24; dav4jvm; okhttp/4.12.0) Android/14","version":"29.0.0.19"}' % (k, stamp)))
    write("nextcloud-stale-password.log", """
A calendar client with a stale Nextcloud password retrying every two
minutes for two hours (Nextcloud's own JSON log).""", out)
    out, src = [], "198.51.100.61"
    for k in range(40):
        t = k * 15
        out.append((t, clf(src, t, "GET", "/wp-json/wp/v2/users/me?context=edit&_locale=user", 200, user="-", ua=FIREFOX)))
        out.append((t + 1, clf(src, t + 1, "GET", "/wp-json/wp/v2/users?context=view&who=authors&per_page=50&_fields=id,name&_locale=user", 200, ua=FIREFOX)))
        out.append((t + 2, clf(src, t + 2, "POST", "/wp-json/wp/v2/posts/42/autosaves?_locale=user", 200, ua=FIREFOX)))
    write("wordpress-editor.log", """
A WordPress author in the block editor: REST calls for its own user and
the author list, autosaves.""", out)


def cve_neighbours():
    # Honest traffic nearest to the one-shot and probing CVE scenarios: an
    # office uploading through Telerik's RadAsyncUpload, Ghost staff behind
    # one NAT logging in (two mistype their address), a Cacti main poller
    # polling its remote agent, a Zimbra administrator's imports, Googlebot
    # on a wiki whose deleted pages have titles ending in "?", a Fiori user
    # meeting missing language files and OData entities, a ZoneMinder
    # viewer whose pages post their log lines in the body.
    out = []
    for k in range(30):
        t = k * 20
        out.append((t, clf("198.51.100.70", t, "POST", "/Telerik.Web.UI.WebResource.axd?type=rau", 200, ua=CHROME)))
    r = random.Random(7)
    for u in range(12):
        t = r.uniform(0, 300)
        out.append((t, clf("203.0.113.71", t, "POST", "/ghost/api/admin/session/", 201, ua=BROWSERS[u % 3])))
    for t in (40, 46, 200, 207):
        out.append((t, clf("203.0.113.71", t, "POST", "/ghost/api/admin/session/", 404, ua=SAFARI)))
    for k in range(120):
        t = k * 60
        out.append((t, clf("198.51.100.72", t, "GET", f"/cacti/remote_agent.php?action=polldata&poller_id=1&host_id={k % 7 + 1}&local_data_ids[]={k}", 200, ua="-")))
    for k in range(3):
        t = 900 + k * 40
        out.append((t, clf("198.51.100.73", t, "POST", f"/service/extension/backup/mboximport?account-name=user{k}@example.org&ow=1", 200, ua="zmmailbox")))
    for k, title in enumerate(["Why%3F", "What_now%3F", "Is_it_safe%3F", "Who_is_there%3F", "When%3F", "Where_to%3F", "How%3F", "Which_one%3F"]):
        t = 1000 + k * 12
        out.append((t, clf("66.249.66.2", t, "GET", "/wiki/" + title, 404, ua="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")))
    for k, path in enumerate(["/sap/bc/ui2/flp?sap-client=100", "/sap/bc/ui5_ui5/sap/zapp/i18n/i18n_de_DE.properties",
                              "/sap/bc/ui5_ui5/sap/zapp/i18n/i18n_de.properties", "/sap/opu/odata/sap/ZAPP_SRV/Items('17')",
                              "/sap/opu/odata/sap/ZAPP_SRV/Items('18')", "/sap/bc/ui5_ui5/sap/zapp/Component-preload.js"]):
        t = 1200 + k
        out.append((t, clf("198.51.100.74", t, "GET", path, 200 if k == 0 else 404, ua=CHROME)))
    for k in range(60):
        t = 1300 + k * 2
        out.append((t, clf("198.51.100.75", t, "GET", f"/zm/index.php?view=request&request=stream&connkey=449169&command=99", 200, ua=FIREFOX)))
        if k % 10 == 0:
            out.append((t + 1, clf("198.51.100.75", t + 1, "POST", "/zm/index.php", 200, ua=FIREFOX)))
    write("webapps-cve-neighbours.log", """
Honest traffic nearest to the CVE scenarios: Telerik uploads, Ghost staff
behind one NAT logging in, a Cacti poller, Zimbra imports, a crawler on a
wiki whose titles end in "?", a Fiori user meeting 404s, a ZoneMinder
viewer.""", out)
    out = []
    stamp = lambda t: (BASE + datetime.timedelta(seconds=t)).strftime("%b %d %H:%M:%S")
    for k, (src, action) in enumerate([("198.51.100.76", "robots.txt"), ("198.51.100.76", "sitemap.xml"), ("198.51.100.76", "favicon.ico"),
                                       ("198.51.100.77", "favicon.ico"), ("198.51.100.77", "apple-touch-icon.png"),
                                       ("198.51.100.77", "apple-touch-icon-precomposed.png"), ("198.51.100.77", ".well-known/change-password"),
                                       ("198.51.100.78", "subscrib"), ("198.51.100.78", "favicon.ico")]):
        t = k * 5
        out.append((t, f"{stamp(t)} lists wwsympa[1278]: info main:: [robot lists.example.org] [session 0820392933{k:04d}] [client {src}] [user nobody] Unknown action {action}"))
    write("sympa-visitors.log", """
Visitors of Sympa's web interface: crawlers and browsers asking for
robots.txt, sitemaps, favicons and touch icons, a user mistyping an action.""", out)



cve_neighbours()

def ssh_monitor():
    # A monitoring system checking the SSH port every minute for two hours
    # (it reads the banner and closes), once with sshd at LogLevel VERBOSE.
    out = []
    for k in range(120):
        t = k * 60
        stamp = (BASE + datetime.timedelta(seconds=t)).strftime("%b %d %H:%M:%S")
        pid = 5000 + k
        out.append((t, f"{stamp} gw sshd[{pid}]: Connection from 192.0.2.220 port {40000 + k} on 192.0.2.1 port 22 rdomain \"\""))
        out.append((t + 0.1, f"{stamp} gw sshd[{pid}]: error: kex_exchange_identification: Connection closed by remote host"))
        out.append((t + 0.2, f"{stamp} gw sshd[{pid}]: Connection closed by 192.0.2.220 port {40000 + k}"))
    write("ssh-monitor.log", """
A monitoring system checking the SSH port every minute: it reads the banner
and closes (sshd at LogLevel VERBOSE).""", out)


def services():
    # Long-tail services used honestly: a reporting job with a stale SQL
    # Server password retrying every ten minutes; a user mistyping a Kerio
    # or Domino password twice; a lighttpd-protected directory where one
    # person mistypes once; an XMPP client with an old password retrying
    # every five minutes; a fail2ban beside herd banning one address twice
    # in a day; an admin mistyping the SSH password once (audit log).
    out = []

    def syslog(t, host, prog, msg):
        stamp = (BASE + datetime.timedelta(seconds=t)).strftime("%b %d %H:%M:%S")
        return (t, f"{stamp} {host} {prog}: {msg}")

    def iso(t, frac=""):
        return (BASE + datetime.timedelta(seconds=t)).strftime("%Y-%m-%d %H:%M:%S") + frac

    for k in range(12):
        t = k * 600
        out.append(syslog(t, "db", "sqlservr[300]", f"{iso(t, '.12')} Logon       Login failed for user 'report'. Reason: Password did not match that for the login provided. [CLIENT: 198.51.100.60]"))
    for k in range(2):
        t = 30 + k * 20
        stamp = (BASE + datetime.timedelta(seconds=t)).strftime("%d/%b/%Y %H:%M:%S")
        out.append(syslog(t, "mx", "kerio[100]", f"[{stamp}] Failed SMTP login from 198.51.100.61 with SASL method PLAIN."))
        out.append(syslog(t + 5, "mx", "domino[200]", f"{iso(t + 5)}   smtp: Erin Example [198.51.100.62] authentication failure using internet password"))
    out.append(syslog(90, "web", "lighttpd[764]", "(mod_auth.c.853) password doesn't match for /private/ username: frank IP: 198.51.100.63"))
    for k in range(10):
        t = 100 + k * 300
        out.append(syslog(t, "chat", "ejabberd[400]", f"{iso(t, '.500')} [info] <0.6668.0>@ejabberd_c2s:handle_auth_failure:433 (tls|ejabberd_c2s) Failed c2s PLAIN authentication for grace@example.org from 198.51.100.64: Invalid username or password"))
    out.append(syslog(200, "srv", "fail2ban.actions[6605]", "NOTICE [sshd] Ban 198.51.100.65"))
    out.append(syslog(200 + 6 * 3600, "srv", "fail2ban.actions[6605]", "NOTICE [sshd] Ban 198.51.100.65"))
    out.append(syslog(300, "srv", "audisp[500]", "type=USER_AUTH msg=audit(1795420300.000:603): pid=12887 uid=0 auid=4294967295 ses=4294967295 subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 msg='op=password acct=\"admin\" exe=\"/usr/sbin/sshd\" hostname=? addr=198.51.100.66 terminal=ssh res=failed'"))
    out.append(syslog(400, "irc", "znc[37232]", "[henry] failed to login from 198.51.100.67:50123"))
    for k in range(2):
        out.append(syslog(500 + k * 30, "voice", "murmurd[2064]", f"<W>{iso(500 + k * 30, '.615')} 1 => <{k + 4}:ida(-1)> Rejected connection from 198.51.100.68:{31000 + k}: Invalid server password"))
    out.append(syslog(600, "panel", "Froxlor", "[Login Action 198.51.100.69] User 'jack' tried to login with wrong password."))
    write("services-stale-logins.log", """
Long-tail services used honestly: a job with a stale SQL Server password
retrying every ten minutes, an XMPP client with an old password every five,
users mistyping a mail, web or SSH password once or twice, and a fail2ban
beside herd banning one address twice in a day.""", out)


office(); sync(); spa(); crawlers(); monitors(); ci(); mail(); mail_role_mailboxes(); mail_providers(); apps(); ssh_monitor(); services()
