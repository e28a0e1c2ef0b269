"""Deployment as code, validated offline: every .bicep file under infra/ parses (pycep-parser), the
parsed templates hold the facts the app and README.md depend on, and checkov passes with exactly
the skips documented in infra/README.md.

checkov and pycep-parser live in their own venv, .venv-tools/ (requirements-tools.txt), built here
on first use; checkov runs with downloads, platform mapping and update checks off and a proxy that
refuses every connection, so a run that needed the network would fail."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pathspec
import pytest

from bridge.settings import CLIENT_ID_SETTING, NAMESPACE_SETTING, SETTING_NAMES, Settings
from delivery.datacenters import DATA_CENTERS

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
TOOLS = ROOT / ".venv-tools"
TOOLS_REQUIREMENTS = ROOT / "requirements-tools.txt"

# Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
BUILT_IN_ROLES = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
}
# Broad roles the identity must never get.
FORBIDDEN_ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab8b-20f7382dd24c",
    "Azure Service Bus Data Owner": "090c5cfd-751d-490a-894a-3ce6f1109419",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
}
NEVER_EXPIRES = "P10675199DT2H48M5.4775807S"  # TimeSpan.MaxValue
OFFLINE_PROXY = "http://127.0.0.1:9"


# ---------------------------------------------------------------------------- tool venv, parsing


def _tool_python() -> Path:
    """.venv-tools/bin/python with requirements-tools.txt installed (again when it changes)."""
    python = TOOLS / "bin" / "python"
    stamp = TOOLS / "requirements-tools.txt"
    wanted = TOOLS_REQUIREMENTS.read_text()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS)], check=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(TOOLS_REQUIREMENTS)], check=True)
        shutil.copyfile(TOOLS_REQUIREMENTS, stamp)
    return python


@pytest.fixture(scope="module")
def tool_python() -> Path:
    return _tool_python()


@pytest.fixture(scope="module")
def parsed(tool_python: Path) -> dict[str, Any]:
    done = subprocess.run(
        [tool_python, str(ROOT / "tests" / "infra_tools.py"), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _template(parsed: dict[str, Any], name: str) -> dict[str, Any]:
    return parsed["bicep"][f"infra/{name}"]


def _body(declaration: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's body, whether or not it is conditional (`= if (...) {...}`)."""
    config = declaration["config"]
    return config["config"] if "condition" in config else config


def _resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    return _body(template["resources"][name])


def _resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: _body(resource)
        for name, resource in template["resources"].items()
        if resource["type"] == kind and not resource["existing"]
    }


def _keys(value: dict[str, Any]) -> set[str]:
    return {key.strip("'") for key in value}


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    return {key.strip("'"): item for key, item in value.items()}


def _decorator(parameter: dict[str, Any], kind: str) -> Any:
    for decorator in parameter["decorators"]:
        if decorator["type"] == kind:
            return decorator.get("argument", True)
    return None


def _bicep_text() -> str:
    return "\n".join(path.read_text() for path in sorted(INFRA.rglob("*.bicep")))


# ------------------------------------------------------------------------------------- parsing


def test_every_bicep_file_parses(parsed: dict[str, Any]) -> None:
    on_disk = {path.relative_to(ROOT).as_posix() for path in INFRA.rglob("*.bicep")}
    assert set(parsed["bicep"]) == on_disk
    assert {"infra/main.bicep", "infra/modules/functionapp.bicep"} <= on_disk
    for name, template in parsed["bicep"].items():
        assert template["resources"] or template["modules"], f"{name} declares nothing"


def test_main_wires_every_module_from_a_local_file(parsed: dict[str, Any]) -> None:
    main = _template(parsed, "main.bicep")
    assert main["globals"]["scope"]["value"] == "subscription"
    used = {module["detail"]["path"] for module in main["modules"].values()}
    for module in used:
        assert (INFRA / module).is_file(), module
    # Plain resources only: no registry modules (CI cannot reach the Bicep registry).
    assert "br/public:" not in _bicep_text()
    assert "br:" not in _bicep_text()


# ----------------------------------------------------------------------------------- Service Bus


def test_main_queue_is_configured_as_the_readme_prescribes(parsed: dict[str, Any]) -> None:
    queue = _resource(_template(parsed, "modules/servicebus.bicep"), "queue")["properties"]
    assert queue["lockDuration"] == "PT5M"
    assert queue["maxDeliveryCount"] == 10
    assert queue["requiresDuplicateDetection"] is True
    assert queue["duplicateDetectionHistoryTimeWindow"] == "P1D"
    assert queue["deadLetteringOnMessageExpiration"] is True
    assert queue["defaultMessageTimeToLive"] == "P14D"
    assert queue["requiresSession"] is False

    # The same values as README.md's `az servicebus queue create` for the main queue.
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"az servicebus queue create .*? -n kognitiv-webhooks \\\n(.*?)\n", readme)
    assert command, "README.md no longer shows the main queue's creation"
    flags = command.group(1)
    assert "--lock-duration PT5M" in flags
    assert "--max-delivery-count 10" in flags
    assert "--enable-duplicate-detection true" in flags


def test_dead_letter_queue_keeps_letters_until_an_operator_acts(parsed: dict[str, Any]) -> None:
    servicebus = _template(parsed, "modules/servicebus.bicep")
    assert servicebus["variables"]["neverExpires"]["value"] == NEVER_EXPIRES
    letters = _resource(servicebus, "deadLetterQueue")["properties"]
    assert letters["defaultMessageTimeToLive"] == "neverExpires"
    assert letters["deadLetteringOnMessageExpiration"] is False
    assert letters["maxDeliveryCount"] >= 1000
    # A retried dead-letter write is kept once; replayed letters get new MessageIds.
    assert letters["requiresDuplicateDetection"] is True
    assert letters["duplicateDetectionHistoryTimeWindow"] == "P1D"

    main = _template(parsed, "main.bicep")
    assert main["variables"]["deadLetterQueueName"]["value"] == "${serviceBusQueueName}-deadletter"
    assert main["parameters"]["serviceBusQueueName"]["default"] == "kognitiv-webhooks"


def test_service_bus_namespace_accepts_identities_only(parsed: dict[str, Any]) -> None:
    namespace = _resource(_template(parsed, "modules/servicebus.bicep"), "namespace")
    assert namespace["sku"]["name"] == "Standard"
    assert namespace["properties"]["disableLocalAuth"] is True
    assert namespace["properties"]["minimumTlsVersion"] == "1.2"


# ----------------------------------------------------------------------------- function app


def test_function_app_runs_python_311_on_flex_consumption(parsed: dict[str, Any]) -> None:
    template = _template(parsed, "modules/functionapp.bicep")
    plan = _resource(template, "plan")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True

    app = _resource(template, "app")
    assert app["kind"] == "functionapp,linux"
    config = app["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }


def test_function_app_is_hardened_and_runs_as_its_identity(parsed: dict[str, Any]) -> None:
    template = _template(parsed, "modules/functionapp.bicep")
    app = _resource(template, "app")
    assert app["identity"]["type"] == "UserAssigned"
    properties = app["properties"]
    assert properties["httpsOnly"] is True
    assert properties["keyVaultReferenceIdentity"] == "identityId"
    site = properties["siteConfig"]
    assert site["minTlsVersion"] == "1.2"
    assert site["ftpsState"] == "Disabled"
    assert site["remoteDebuggingEnabled"] is False
    # Health check is not available on Flex Consumption: not set, and documented.
    assert "healthCheckPath" not in site
    assert "/api/live" in (INFRA / "README.md").read_text()
    publishing = _resources_of_type(
        template, "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
    )
    assert {body["name"]: body["properties"]["allow"] for body in publishing.values()} == {
        "ftp": False,
        "scm": False,
    }


def test_host_storage_and_telemetry_use_the_identity(parsed: dict[str, Any]) -> None:
    settings = _template(parsed, "modules/functionapp.bicep")["variables"]["platformSettings"]
    settings = settings["value"]
    assert settings["AzureWebJobsStorage__accountName"] == "storageAccountName"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert "AzureWebJobsStorage" not in settings
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD"
    )
    # Flex Consumption rejects these: the runtime comes from functionAppConfig.
    text = _bicep_text()
    for refused in ("FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM"):
        assert refused not in text


def test_storage_allows_no_shared_keys(parsed: dict[str, Any]) -> None:
    template = _template(parsed, "modules/storage.bicep")
    properties = _resource(template, "storage")["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True
    container = _resource(template, "deploymentContainer")
    assert container["properties"]["publicAccess"] == "None"


def test_application_insights_takes_identity_based_ingestion_only(parsed: dict[str, Any]) -> None:
    template = _template(parsed, "modules/monitoring.bicep")
    properties = _resource(template, "applicationInsights")["properties"]
    assert properties["DisableLocalAuth"] is True
    assert properties["WorkspaceResourceId"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "logAnalytics", "operand_2": "id"},
        }
    }


def test_nothing_uses_keys_where_an_identity_works() -> None:
    text = _bicep_text()
    for keyed in ("listKeys(", "listConnectionStrings(", "AccountKey=", "SharedAccessKey"):
        assert keyed not in text, keyed
    assert "InstrumentationKey" not in text


# -------------------------------------------------------------------------------------- Key Vault


def test_key_vault_is_rbac_only_and_recoverable(parsed: dict[str, Any]) -> None:
    template = _template(parsed, "modules/keyvault.bicep")
    properties = _resource(template, "vault")["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["enablePurgeProtection"] is True
    assert "accessPolicies" not in properties
    for name in ("moengageApiKey", "kognitivAuthUsername", "kognitivAuthPassword"):
        assert _decorator(template["parameters"][name], "secure"), name
    assert _decorator(template["parameters"]["kognitivAuthToken"], "secure")
    secrets = {_body(module)["params"]["name"] for module in template["modules"].values()}
    assert secrets == {
        "moengage-api-key",
        "kognitiv-auth-username",
        "kognitiv-auth-password",
        "kognitiv-auth-token",
    }


def test_secrets_reach_the_app_as_key_vault_references_only(parsed: dict[str, Any]) -> None:
    variables = _template(parsed, "main.bicep")["variables"]
    reference = "@Microsoft.KeyVault(SecretUri=${keyVault.outputs.%s})"
    moengage = variables["moengageSettings"]["value"]
    assert moengage["MOENGAGE_API_KEY"] == reference % "moengageApiKeyUri"
    for setting, output in (
        ("KOGNITIV_AUTH_USERNAME", "kognitivAuthUsernameUri"),
        ("KOGNITIV_AUTH_PASSWORD", "kognitivAuthPasswordUri"),
        ("KOGNITIV_AUTH_TOKEN", "kognitivAuthTokenUri"),
    ):
        found = [
            value["operator"]["operands"]["false_value"]
            for value in (variable["value"] for variable in variables.values())
            if isinstance(value, dict)
            and value.get("operator", {}).get("type") == "conditional"
            and setting in _keys(value["operator"]["operands"]["false_value"] or {})
        ]
        assert found == [{setting: reference % output}], setting


# ---------------------------------------------------------------------------------------- roles


def test_identity_gets_exactly_the_documented_built_in_roles(parsed: dict[str, Any]) -> None:
    roles = _template(parsed, "modules/roles.bicep")
    ids = roles["variables"]["roleIds"]["value"]
    assert set(ids.values()) == set(BUILT_IN_ROLES.values())
    assignments = _resources_of_type(roles, "Microsoft.Authorization/roleAssignments")
    assigned = set()
    for name, body in assignments.items():
        definition = body["properties"]["roleDefinitionId"]["function"]
        assert definition["type"] == "subscription_resource_id", name
        parameters = definition["parameters"]
        assert parameters["resource_type"] == "Microsoft.Authorization/roleDefinitions", name
        role = parameters["resource_name_1"]["operator"]["operands"]["operand_2"]
        assigned.add(ids[role])
        assert body["scope"] in {"storage", "vault", "applicationInsights", "namespace"}, name
    assert assigned == set(BUILT_IN_ROLES.values())
    text = _bicep_text()
    for role, role_id in FORBIDDEN_ROLES.items():
        assert role_id not in text, role

    documented = (INFRA / "README.md").read_text()
    for role in BUILT_IN_ROLES:
        assert role in documented, f"infra/README.md does not explain {role}"


def test_service_bus_roles_exist_only_in_queue_mode(parsed: dict[str, Any]) -> None:
    roles = _template(parsed, "modules/roles.bicep")
    assert roles["variables"]["queueMode"]["value"] == {
        "operator": {
            "type": "not",
            "operands": {
                "bool_value": {
                    "function": {
                        "type": "empty",
                        "parameters": {"item_to_test": "serviceBusNamespaceName"},
                    }
                }
            },
        }
    }
    for name in ("serviceBusSender", "serviceBusReceiver"):
        assert roles["resources"][name]["config"]["condition"] == "queueMode"
    main = _template(parsed, "main.bicep")
    assert main["modules"]["serviceBus"]["config"]["condition"] == "queueMode"


# ---------------------------------------------------------------------- parameters and settings


def test_parameters(parsed: dict[str, Any]) -> None:
    parameters = _template(parsed, "main.bicep")["parameters"]
    assert _decorator(parameters["moengageDataCenter"], "allowed") == list(DATA_CENTERS)
    assert _decorator(parameters["deliveryMode"], "allowed") == ["queue", "direct"]
    assert _decorator(parameters["kognitivDateOrder"], "allowed") == ["MDY", "DMY"]
    for secret in ("moengageApiKey", "kognitivAuthUsername", "kognitivAuthPassword"):
        assert _decorator(parameters[secret], "secure"), secret
    assert _decorator(parameters["kognitivAuthToken"], "secure")
    for optional in ("kognitivAuthUsername", "kognitivAuthPassword", "kognitivAuthToken"):
        assert parameters[optional]["default"] == "", optional


def test_parameters_file_maps_azd_environment_values(parsed: dict[str, Any]) -> None:
    parameters = _template(parsed, "main.bicep")["parameters"]
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(mapped) <= set(parameters)
    required = {name for name, parameter in parameters.items() if parameter["default"] is None}
    assert required <= set(mapped)
    for name, entry in mapped.items():
        assert re.fullmatch(r"\$\{[A-Z0-9_]+(=[^}]*)?\}", entry["value"]), name
    assert mapped["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert mapped["location"]["value"] == "${AZURE_LOCATION}"
    assert mapped["moengageAppId"]["value"] == "${MOENGAGE_APP_ID}"
    assert mapped["moengageApiKey"]["value"] == "${MOENGAGE_API_KEY}"
    assert mapped["moengageDataCenter"]["value"] == "${MOENGAGE_DATA_CENTER}"


def _app_settings(parsed: dict[str, Any]) -> tuple[set[str], dict[str, Any], dict[str, Any]]:
    """Names of every setting main.bicep gives the app; queue-mode and direct-mode extras."""
    variables = _template(parsed, "main.bicep")["variables"]
    names = _keys(variables["moengageSettings"]["value"])
    for name in ("kognitivUsernameSetting", "kognitivPasswordSetting", "kognitivTokenSetting"):
        names |= _keys(variables[name]["value"]["operator"]["operands"]["false_value"])
    modes = variables["queueSettings"]["value"]["operator"]["operands"]
    queue, direct = _plain(modes["true_value"]), _plain(modes["false_value"])
    return names | set(queue) | set(direct), queue, direct


def test_app_settings_are_the_ones_the_app_reads(parsed: dict[str, Any]) -> None:
    names, queue, direct = _app_settings(parsed)
    function_switch = "AzureWebJobs.kognitiv_service_bus.Disabled"
    # Read by the Functions host, not by the app: the trigger switch and the credential kind.
    host_only = {function_switch, "KOGNITIV_SERVICE_BUS__credential"}
    assert names - host_only <= set(SETTING_NAMES)
    assert {
        "MOENGAGE_APP_ID",
        "MOENGAGE_API_KEY",
        "MOENGAGE_DATA_CENTER",
        "KOGNITIV_TIMEZONE",
        "KOGNITIV_DATE_ORDER",
        "KOGNITIV_AUTH_USERNAME",
        "KOGNITIV_AUTH_PASSWORD",
        "KOGNITIV_AUTH_TOKEN",
        "KOGNITIV_SERVICE_BUS_QUEUE",
        "KOGNITIV_SERVICE_BUS_DEAD_LETTER_QUEUE",
        NAMESPACE_SETTING,
        CLIENT_ID_SETTING,
        "KOGNITIV_SERVICE_BUS__credential",
    } <= names
    # The queue trigger's name and connection prefix, as function_app.py declares them.
    source = (ROOT / "function_app.py").read_text()
    assert "def kognitiv_service_bus(" in source
    assert 'connection="KOGNITIV_SERVICE_BUS"' in source

    assert queue[function_switch] == "false"
    assert queue["KOGNITIV_SERVICE_BUS__credential"] == "managedidentity"
    assert direct == {function_switch: "true"}


@pytest.mark.parametrize("mode", ["queue", "direct"])
def test_the_app_sees_the_mode_the_deployment_chose(
    parsed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    _, queue, direct = _app_settings(parsed)
    for name in list(os.environ):
        if name.startswith(("MOENGAGE_", "KOGNITIV_")):
            monkeypatch.delenv(name)
    sample = {
        "MOENGAGE_APP_ID": "workspace",
        "MOENGAGE_API_KEY": "key",
        "MOENGAGE_DATA_CENTER": "01",
        "KOGNITIV_SERVICE_BUS_QUEUE": "kognitiv-webhooks",
    }
    extra = queue if mode == "queue" else direct
    for name in extra:
        sample.setdefault(name, "sb-x.servicebus.windows.net" if name == NAMESPACE_SETTING else "x")
    for name, value in sample.items():
        monkeypatch.setenv(name, value)
    assert Settings().queue_mode is (mode == "queue")  # type: ignore[call-arg]


# --------------------------------------------------------------------------- azd and packaging


def test_azure_yaml_deploys_this_folder_as_a_python_function(parsed: dict[str, Any]) -> None:
    service = parsed["azure_yaml"]["services"]["api"]
    assert service == {"project": ".", "language": "python", "host": "function"}
    app = _resource(_template(parsed, "modules/functionapp.bicep"), "app")
    assert "azd-service-name" in json.dumps(app["tags"])


def test_tool_venv_and_azd_state_are_neither_committed_nor_deployed() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".venv-tools/" in ignored
    assert ".azure/" in ignored
    funcignore = pathspec.GitIgnoreSpec.from_lines((ROOT / ".funcignore").read_text().splitlines())
    for path in (
        ".venv-tools/bin/python",
        ".azure/production/.env",
        "infra/main.bicep",
        "infra/.checkov.yaml",
        "azure.yaml",
        "requirements-tools.txt",
    ):
        assert funcignore.match_file(path), f"{path} would be deployed"


# ---------------------------------------------------------------------------------------- checkov


def _documented_skips() -> dict[str, str]:
    readme = (INFRA / "README.md").read_text()
    section = readme.split("## Skipped checkov checks", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(CKV_[A-Z0-9_]+)` \|[^|]*\|([^|]*)\|", section, flags=re.MULTILINE)
    return {check: reason.strip() for check, reason in rows}


def _configured_skips() -> list[str]:
    text = (INFRA / ".checkov.yaml").read_text()
    block = text.split("skip-check:", 1)[1]
    return re.findall(r"^\s+- (CKV_[A-Z0-9_]+)\s*$", block, flags=re.MULTILINE)


def test_every_skipped_check_is_documented_with_a_reason() -> None:
    documented = _documented_skips()
    configured = _configured_skips()
    assert configured, "no skip list found in infra/.checkov.yaml"
    assert len(configured) == len(set(configured))
    assert set(documented) == set(configured)
    for check, reason in documented.items():
        assert len(reason) > 20, f"{check} needs a reason"


def test_checkov_passes_offline(tool_python: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("BC_", "PRISMA_", "CKV_"))
    }
    env.update(
        BC_SKIP_MAPPING="TRUE",
        CKV_SKIP_PACKAGE_UPDATE_CHECK="true",
        HTTPS_PROXY=OFFLINE_PROXY,
        HTTP_PROXY=OFFLINE_PROXY,
        https_proxy=OFFLINE_PROXY,
        http_proxy=OFFLINE_PROXY,
        NO_PROXY="",
        no_proxy="",
    )
    checkov = [tool_python.parent / "checkov", "--config-file", str(INFRA / ".checkov.yaml")]
    done = subprocess.run(
        [*checkov, "--directory", str(INFRA), "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert done.stdout.strip(), done.stderr[-2000:]
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    assert [r["check_type"] for r in reports] == ["bicep"]
    summary = reports[0]["summary"]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for check in reports[0]["results"]["failed_checks"]
    ]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 20
    assert done.returncode == 0, done.stderr[-2000:]


# ------------------------------------------------------------------------------------ README.md


def test_readme_explains_deployment() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deploy to Azure", 1)[1].split("\n## ", 1)[0]
    for needed in (
        "azd up",
        "az group create",
        "az functionapp create",
        "--flexconsumption-location",
        "--runtime python --runtime-version 3.11",
        "az functionapp config appsettings set",
        "func azure functionapp publish",
        "az functionapp function keys list",
        "/api/kognitiv/<event>?code=<function key>",
        "/api/live",
        "/api/health?code=",
        "dry_run=true",
    ):
        assert needed in section, needed
    # The hand-made dead-letter queue matches the Bicep one: letters never expire or move on.
    assert f"--default-message-time-to-live {NEVER_EXPIRES} --max-delivery-count 2000" in section
