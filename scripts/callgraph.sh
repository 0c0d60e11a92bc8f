#!/usr/bin/env bash
# The dependency graph between the module's C files, from the compiler's
# own output: for each object file, the symbols it uses (nm -u: calls and
# functions taken by address, such as handlers) that another object file of
# the module defines.  ngx_http_sse_module itself, nginx's module object
# that every file reads its configuration through, is no edge.  Fails if two files depend on each other, directly or
# in a circle; prints the graph with CALLGRAPH_SHOW=1.
#   scripts/callgraph.sh [OBJDIR]     (default: the tree make builds)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
objs=${1:-$(dirname "$(find "$top/build/nginx/objs/addon" -name \
    'ngx_http_sse_module.o' 2>/dev/null | head -1)")}

if [ -z "$objs" ] || [ ! -f "$objs/ngx_http_sse_module.o" ]; then
    echo "callgraph.sh: no object files: run make first" >&2
    exit 1
fi

python3 - "$objs" <<'EOF'
import os, subprocess, sys

objs = sys.argv[1]
files = sorted(f for f in os.listdir(objs)
               if f.startswith('ngx_http_sse') and f.endswith('.o'))

def nm(args, path):
    out = subprocess.run(['nm'] + args + [path], check=True,
                         capture_output=True, text=True).stdout
    return [l.split()[-1] for l in out.splitlines() if l.strip()]

defined = {}
for f in files:
    for s in nm(['--defined-only', '-g'], os.path.join(objs, f)):
        if s.startswith('ngx_http_sse') and s != 'ngx_http_sse_module':
            defined[s] = f[:-2] + '.c'

graph = {f[:-2] + '.c': {} for f in files}
for f in files:
    src = f[:-2] + '.c'
    for s in nm(['-u'], os.path.join(objs, f)):
        dst = defined.get(s)
        if dst and dst != src:
            graph[src].setdefault(dst, []).append(s)

if os.environ.get('CALLGRAPH_SHOW'):
    for src in sorted(graph):
        for dst in sorted(graph[src]):
            print('%s -> %s  (%s)' % (src, dst, ', '.join(graph[src][dst])))

# cycles: depth-first search, each back edge names one
state, stack, cycles = {}, [], []

def visit(n):
    state[n] = 1
    stack.append(n)
    for m in sorted(graph[n]):
        if state.get(m) == 1:
            cycles.append(stack[stack.index(m):] + [m])
        elif m not in state:
            visit(m)
    stack.pop()
    state[n] = 2

for n in sorted(graph):
    if n not in state:
        visit(n)

edges = sum(len(v) for v in graph.values())
for c in cycles:
    print('callgraph: cycle: ' + ' -> '.join(c))
    for a, b in zip(c, c[1:]):
        print('    %s -> %s  (%s)' % (a, b, ', '.join(graph[a][b])))

if cycles:
    print('callgraph: %d files, %d edges, %d cycles' %
          (len(graph), edges, len(cycles)))
    sys.exit(1)

print('callgraph: %d files, %d edges, no cycle' % (len(graph), edges))
EOF
