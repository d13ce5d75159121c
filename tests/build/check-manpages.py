#!/usr/bin/env python3
"""The manual pages against the programs and the config parsers.

Usage: check-manpages.py SCDOC DOC_DIR HUB_CONFIG_C NODE_CONFIG_C
                         NMO_HUB NMO_NODE NMO_ANALYST NMO_KEYS

For each program, every long option that `PROGRAM COMMAND --help` prints (for
every command its --help lists; nmo-hub member: each subcommand) must appear in
its page; every key of hub/config.c's and node/config.c's tables must appear in
nmo-hub.conf(5) and nmo-node.conf(5); and scdoc must render every page.
"""
import os
import re
import subprocess
import sys

PAGES = ['nmo-hub.8', 'nmo-node.8', 'nmo-analyst.1', 'nmo-keys.1',
         'nmo-hub.conf.5', 'nmo-node.conf.5']


def run_help(argv):
    """stdout of a --help run, which must succeed."""
    p = subprocess.run(argv + ['--help'], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise SystemExit('%s --help: exit %d\n%s' % (' '.join(argv), p.returncode, p.stderr))
    return p.stdout


def commands(help_text):
    """Command names from the 'Commands:' block of a program's --help."""
    out = []
    block = help_text.split('Commands:', 1)
    if len(block) < 2:
        return out
    for line in block[1].splitlines()[1:]:
        if not line.strip():
            break
        m = re.match(r'^  ([a-z][a-z-]*)\s', line)
        if m:
            out.append(m.group(1))
    return out


def long_options(text):
    return set(re.findall(r'(?<![\w-])(--[a-z][a-z0-9-]*)', text))


def main():
    if len(sys.argv) != 9:
        raise SystemExit(__doc__)
    scdoc, doc_dir, hub_conf_c, node_conf_c = sys.argv[1:5]
    progs = dict(zip(['nmo-hub', 'nmo-node', 'nmo-analyst', 'nmo-keys'], sys.argv[5:9]))
    page_of = {'nmo-hub': 'nmo-hub.8', 'nmo-node': 'nmo-node.8',
               'nmo-analyst': 'nmo-analyst.1', 'nmo-keys': 'nmo-keys.1'}
    failures = []
    src = {}

    for page in PAGES:
        path = os.path.join(doc_dir, page + '.scd')
        with open(path, encoding='utf-8') as f:
            src[page] = f.read()
        with open(path, 'rb') as f:
            p = subprocess.run([scdoc], stdin=f, capture_output=True, timeout=30)
        if p.returncode != 0 or not p.stdout.strip():
            failures.append('%s.scd: scdoc exit %d, %d bytes: %s' %
                            (page, p.returncode, len(p.stdout),
                             p.stderr.decode(errors='replace').strip()))

    for name, exe in progs.items():
        top = run_help([exe])
        cmds = commands(top)
        if not cmds:
            failures.append('%s --help lists no commands' % name)
        helps = [([name], top)]
        for cmd in cmds:
            helps.append(([name, cmd], run_help([exe, cmd])))
            if name == 'nmo-hub' and cmd == 'member':
                for sub in ('add', 'renew', 'list', 'show', 'suspend', 'resume', 'revoke'):
                    helps.append(([name, cmd, sub], run_help([exe, cmd, sub])))
        page = page_of[name]
        have = long_options(src[page])
        for argv, text in helps:
            for opt in sorted(long_options(text) - have):
                failures.append('%s.scd: %s (from %s --help) is missing' %
                                (page, opt, ' '.join(argv)))

    for conf_c, page, table in ((hub_conf_c, 'nmo-hub.conf.5', r'numbers\[\]|endpoints\[\]'),
                                (node_conf_c, 'nmo-node.conf.5', r'conf_keys\[\]')):
        with open(conf_c, encoding='utf-8') as f:
            c = f.read()
        keys = set()
        # Each table: from its declaration to the closing "};".
        for m in re.finditer(r'(?:%s)\s*=\s*\{(.*?)\n\s*\};' % table, c, re.S):
            keys |= set(re.findall(r'\{\s*"[a-z]+",\s*"([a-z_]+)"', m.group(1)))
        # The special cases parsed outside the tables.
        keys |= set(re.findall(r'strcmp\(name, "([a-z_]+)"\) == 0', c))
        if not keys:
            failures.append('%s: no configuration keys found' % conf_c)
        words = set(re.findall(r'[a-z_]+', src[page]))
        for key in sorted(keys - words):
            failures.append('%s.scd: key %s (from %s) is missing' % (page, key, conf_c))
        print('%s: %d keys checked' % (page, len(keys)))

    for f in failures:
        print('FAIL ' + f)
    if failures:
        return 1
    print('ok: %d pages render, options and keys all documented' % len(PAGES))
    return 0


if __name__ == '__main__':
    sys.exit(main())
