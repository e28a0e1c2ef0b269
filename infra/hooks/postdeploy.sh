#!/bin/sh
# azd postdeploy hook (POSIX): prints the Kognitiv webhook URLs, how to fetch the function keys
# and the smoke test. azd passes the environment's values as environment variables.
case $0 in */*) cd "${0%/*}/../.." || exit 1 ;; esac
for python in python3 python; do
  if command -v "$python" >/dev/null 2>&1; then
    exec "$python" infra/hooks/webhook_urls.py
  fi
done
# No Python on this machine: the base URL and the key command, without the per-event list.
echo "Kognitiv webhook: ${KOGNITIV_WEBHOOK_URL}/<event> (workspaces: ${KOGNITIV_WEBHOOK_URL}/<workspace>/<event>)"
echo "Function key: az functionapp function keys list -g ${AZURE_RESOURCE_GROUP} -n ${AZURE_FUNCTION_APP_NAME} --function-name kognitiv_webhook --query default -o tsv"
echo "Install Python 3 to list the URL of every event and workspace (infra/hooks/webhook_urls.py)."
