#!/usr/bin/env python3
"""The privacy boundary, checked from the build itself.

nmo-analyst reads the analytics store only. This checks, on the binary and
the compile command this build made:

 (a) symbols: `nm` of the nmo-analyst binary has no symbol of the hub's
     private store (hub_store_*, and the protobuf-c code of every message and
     enum of hub/store.proto: nmo__hub__member_record__*, ...), the member
     registry (hub_member_*), ingest (hub_ingest_*), ZAP (hub_zap*, zap_*),
     the aggregation that reads the private store (hub_aggregate_*, dc_*,
     hub_journal*), the hub's server, configuration and connections
     (hub_serve*, hub_server*, hub_config_*, hub_conns_*, hub_feedpub*,
     hub_keyrot*), ZeroMQ (zmq_*), any key handling (keys_*: keys_load_secret,
     keys_generate, ...), nor the analytics store's writer
     (analytics_put_*, analytics_delete_*, analytics_get_alert):
     the analyst only reads. As a control, it does have main, the analyst's
     commands and the analytics reader (so a stripped or empty binary fails).
 (b) includes: the compile command of an analyst source (from
     compile_commands.json), run on a small C file that includes a private
     store or hub header (store.h, store.pb-c.h, member.h, ingest.h, zap.h,
     aggregate.h, server.h) fails, because no such header is on the
     analyst's include path; the same command on a file that includes
     analytics.h, period.h, date.h and analyst.h succeeds (the control).

Usage: check-analyst-boundary.py BUILD_ROOT SOURCE_ROOT NMO_ANALYST [NM]
Exit 0 when the boundary holds, 1 when not (saying what crossed it), 77 to
skip when nm is not there.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

FORBIDDEN_PREFIXES = [
    'hub_store_', 'hub_member_', 'hub_ingest_', 'hub_zap', 'zap_',
    'hub_aggregate_', 'dc_', 'hub_journal', 'hub_serve', 'hub_server',
    'hub_config_', 'hub_conns_', 'hub_feedpub', 'hub_keyrot', 'hub_reload',
    'zmq_', 'keys_',
    'analytics_put_', 'analytics_delete_', 'analytics_get_alert',
]
REQUIRED = ['main', 'analyst_cmd_cells', 'analyst_cmd_alerts', 'analyst_cmd_trend',
            'analyst_cmd_materials', 'analytics_open', 'analytics_foreach_cell']
PRIVATE_HEADERS = ['store.h', 'store.pb-c.h', 'member.h', 'ingest.h', 'zap.h',
                   'aggregate.h', 'server.h']
ALLOWED_HEADERS = ['analytics.h', 'analytics.pb-c.h', 'period.h', 'date.h', 'analyst.h']
ANALYST_SOURCE = os.path.join('analyst', 'cmd-cells.c')


def snake(name):
    """protobuf-c's C name of a message or enum: MemberRecord -> member_record."""
    return re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()


def store_proto_prefixes(source_root):
    """nmo__hub__NAME__ for every message and enum of hub/store.proto."""
    path = os.path.join(source_root, 'hub', 'store.proto')
    with open(path, encoding='utf-8') as f:
        text = f.read()
    names = re.findall(r'^\s*(?:message|enum)\s+(\w+)', text, re.M)
    if not names:
        sys.exit('check-analyst-boundary: no message in %s' % path)
    return ['nmo__hub__%s__' % snake(n) for n in names]


def check_symbols(binary, source_root, nm):
    out = subprocess.run([nm, binary], check=True, capture_output=True, text=True).stdout
    symbols = set()
    for line in out.splitlines():
        parts = line.split()
        if parts:
            symbols.add(parts[-1].split('@')[0])
    prefixes = FORBIDDEN_PREFIXES + store_proto_prefixes(source_root)
    crossed = sorted(s for s in symbols if any(s.startswith(p) for p in prefixes))
    missing = [s for s in REQUIRED if s not in symbols]
    ok = True
    if crossed:
        print('nmo-analyst links what it must not:\n  ' + '\n  '.join(crossed))
        ok = False
    if missing:
        print('nmo-analyst lacks the control symbols (stripped or not the analyst?): ' +
              ', '.join(missing))
        ok = False
    print('symbols: %d checked against %d forbidden prefixes (%s)' %
          (len(symbols), len(prefixes), ', '.join(prefixes)))
    return ok


def analyst_compile_command(build_root):
    """The compile command of an analyst source, as a list, and its directory."""
    with open(os.path.join(build_root, 'compile_commands.json'), encoding='utf-8') as f:
        entries = json.load(f)
    for e in entries:
        if os.path.normpath(e['file']).endswith(ANALYST_SOURCE) and \
                'nmo-analyst' in e.get('output', e.get('command', '')):
            args = e['arguments'] if 'arguments' in e else shlex.split(e['command'])
            return args, e['directory']
    sys.exit('check-analyst-boundary: no compile command for %s' % ANALYST_SOURCE)


def compile_probe(args, directory, tmp, includes, name):
    """Runs the analyst's compile command on a file that includes includes."""
    src = os.path.join(tmp, name + '.c')
    obj = os.path.join(tmp, name + '.o')
    with open(src, 'w', encoding='utf-8') as f:
        for h in includes:
            f.write('#include "%s"\n' % h)
        f.write('int probe(void);\nint probe(void)\n{\n        return 0;\n}\n')
    cmd = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ('-o', '-c', '-MQ', '-MF', '-MT'):
            skip = True
            continue
        if a in ('-MD', '-MMD'):
            continue
        cmd.append(a)
    cmd += ['-c', src, '-o', obj]
    return subprocess.run(cmd, cwd=directory, capture_output=True, text=True)


def check_includes(build_root):
    args, directory = analyst_compile_command(build_root)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        r = compile_probe(args, directory, tmp, ALLOWED_HEADERS, 'allowed')
        if r.returncode != 0:
            print('control: an analyst file including %s does not build:\n%s' %
                  (', '.join(ALLOWED_HEADERS), r.stderr))
            return False
        print('includes: the analyst compile command builds %s' % ', '.join(ALLOWED_HEADERS))
        for h in PRIVATE_HEADERS:
            r = compile_probe(args, directory, tmp, ['analyst.h', h], 'private')
            if r.returncode == 0:
                print('an analyst source can include "%s"' % h)
                ok = False
            elif h not in r.stderr:
                print('including "%s" failed, but not for the header:\n%s' % (h, r.stderr))
                ok = False
        if ok:
            print('includes: refused %s' % ', '.join(PRIVATE_HEADERS))
    return ok


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    build_root, source_root, binary = sys.argv[1:4]
    nm = sys.argv[4] if len(sys.argv) == 5 else shutil.which('nm')
    if not nm:
        print('nm not found: skipped')
        return 77
    ok = check_symbols(binary, source_root, nm)
    ok = check_includes(build_root) and ok
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
