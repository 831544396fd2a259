#!/bin/bash
# restarts the scratch server on 8899 with fresh data
pid=$(cat /tmp/pserver.pid 2>/dev/null)
if [ -n "$pid" ]; then kill $pid 2>/dev/null; while kill -0 $pid 2>/dev/null; do sleep 0.2; done; fi
rm -rf /tmp/pdata
cd /work/main
node sync-server/bin/parley-server.js --port 8899 --data /tmp/pdata --log-level warn > /tmp/pserver.log 2>&1 &
echo $! > /tmp/pserver.pid
for i in $(seq 1 60); do grep -q listening /tmp/pserver.log && break; sleep 0.25; done
tail -1 /tmp/pserver.log
