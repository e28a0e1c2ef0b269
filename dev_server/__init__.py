"""A local stand-in for the Functions host, for machines without Core Tools: the app's HTTP
functions served on localhost through the real Python worker library (`azure-functions-runtime`),
driven with the host's own messages. Development only: `.funcignore` keeps it out of every
package, and the test suite's real-worker tests build on the same parts.

- `worker_env`: the worker's interpreter (Python 3.13+) and virtual environment, the host's
  message types compiled from `function_rpc.proto`, the app's requirements installed for it;
- `worker_host`: the host's side of the exchange (init, metadata, load, invocations);
- `routes`: HTTP trigger routes as the host matches them;
- `http_host`: the HTTP server that turns requests into invocations (runs in the worker's
  interpreter);
- `python -m dev_server`: builds what is missing, then starts `http_host`."""
