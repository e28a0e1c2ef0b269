# azd postdeploy hook (Windows, PowerShell): prints the Kognitiv webhook URLs, how to fetch the
# function keys and the smoke test. azd passes the environment's values as environment variables.
Set-Location (Join-Path $PSScriptRoot '..' '..')
foreach ($python in @('py', 'python3', 'python')) {
    if (Get-Command $python -ErrorAction SilentlyContinue) {
        & $python infra/hooks/webhook_urls.py
        exit $LASTEXITCODE
    }
}
# No Python on this machine: the base URL and the key command, without the per-event list.
Write-Output "Kognitiv webhook: $($env:KOGNITIV_WEBHOOK_URL)/<event> (workspaces: $($env:KOGNITIV_WEBHOOK_URL)/<workspace>/<event>)"
Write-Output "Function key: az functionapp function keys list -g $($env:AZURE_RESOURCE_GROUP) -n $($env:AZURE_FUNCTION_APP_NAME) --function-name kognitiv_webhook --query default -o tsv"
Write-Output "Install Python 3 to list the URL of every event and workspace (infra/hooks/webhook_urls.py)."
