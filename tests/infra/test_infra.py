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

from bridge.config.settings import (
    CLIENT_ID_SETTING,
    NAMESPACE_SETTING,
    SETTING_NAMES,
    Settings,
    load_settings,
    named_settings,
)
from bridge.config.workspaces import workspace_settings
from delivery.datacenters import DATA_CENTERS
from tests.bicep_eval import Template
from tests.documentation import documentation_text

ROOT = Path(__file__).resolve().parent.parent.parent
INFRA = ROOT / "infra"
TOOLS = ROOT / ".venv-tools"
TOOLS_REQUIREMENTS = ROOT / "requirements-tools.txt"

# Built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
BUILT_IN_ROLES = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Azure Service Bus Data Owner": "090c5cfd-751d-490a-894a-3ce6f1109419",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
}
# Granted to the operator only (principalId operatorPrincipalId).
OPERATOR_ROLES = {
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
}
# Broad roles, and roles no trigger needs (no trigger or binding uses storage queues).
FORBIDDEN_ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
}
# Site configuration properties Flex Consumption refuses (ARM error 51021 names FtpsState and
# Use32BitWorkerProcess, "..."), or that Microsoft's Flex samples and the portal's Flex view leave
# out; siteConfig may hold only minTlsVersion and appSettings.
FLEX_REJECTED_SITE_CONFIG = (
    "ftpsState",
    "use32BitWorkerProcess",
    "http20Enabled",
    "remoteDebuggingEnabled",
    "alwaysOn",
    "linuxFxVersion",
    "netFrameworkVersion",
    "javaVersion",
    "powerShellVersion",
    "pythonVersion",
    "functionAppScaleLimit",
    "minimumElasticInstanceCount",
    "preWarmedInstanceCount",
    "healthCheckPath",
)
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


def _readme_commands() -> list[str]:
    """README.md's shell commands, continuation lines joined."""
    text = documentation_text().replace("\\\n", " ")
    return [" ".join(line.split()) for line in text.splitlines()]


def test_main_queue_is_configured_as_the_readme_prescribes(parsed: dict[str, Any]) -> None:
    servicebus = _template(parsed, "modules/servicebus.bicep")
    queue = _resource(servicebus, "queue")["properties"]
    assert queue["lockDuration"] == "PT5M"
    assert queue["maxDeliveryCount"] == 10
    assert queue["requiresDuplicateDetection"] is True
    assert queue["duplicateDetectionHistoryTimeWindow"] == "P1D"
    assert queue["deadLetteringOnMessageExpiration"] is True
    assert queue["defaultMessageTimeToLive"] == "P14D"
    assert queue["requiresSession"] is False
    # A subscription's property, not a queue's (the compiler warns BCP037).
    for name in ("queue", "deadLetterQueue"):
        assert (
            "deadLetteringOnFilterEvaluationExceptions"
            not in _resource(servicebus, name)["properties"]
        )

    # The same values as README.md's `az servicebus queue create` for the main queue.
    commands = [
        line
        for line in _readme_commands()
        if line.startswith("az servicebus queue create") and "-n kognitiv-webhooks " in line
    ]
    assert len(commands) == 1, "README.md shows the main queue's creation exactly once"
    for flag in (
        "--lock-duration PT5M",
        "--max-delivery-count 10",
        "--enable-duplicate-detection true",
        "--duplicate-detection-history-time-window P1D",
        "--enable-dead-lettering-on-message-expiration true",
        "--default-message-time-to-live P14D",
    ):
        assert flag in commands[0], flag


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
    # Instance ceiling within Microsoft's Flex sample bounds, in the module and in main.bicep.
    assert config["scaleAndConcurrency"]["maximumInstanceCount"] == "maximumInstanceCount"
    main = _template(parsed, "main.bicep")
    for declared in (template, main):
        parameter = declared["parameters"]["maximumInstanceCount"]
        assert _decorator(parameter, "min_value") == 40
        assert _decorator(parameter, "max_value") == 1000
        assert parameter["default"] == 100
    passed = main["modules"]["functionApp"]["config"]["params"]["maximumInstanceCount"]
    assert passed == "maximumInstanceCount"


def test_site_config_holds_nothing_flex_consumption_rejects(parsed: dict[str, Any]) -> None:
    app = _resource(_template(parsed, "modules/functionapp.bicep"), "app")
    site = app["properties"]["siteConfig"]
    assert set(site) == {"minTlsVersion", "appSettings"}
    assert site["minTlsVersion"] == "1.2"
    text = _bicep_text()
    for refused in FLEX_REJECTED_SITE_CONFIG:
        assert re.search(rf"\b{refused}\s*:", text) is None, refused
    # The checks those properties satisfied are skipped, each with its reason.
    documented = _documented_skips()
    for check in ("CKV_AZURE_78", "CKV_AZURE_18", "CKV_AZURE_67"):
        assert check in documented, check


def test_function_app_is_hardened_and_runs_as_its_identity(parsed: dict[str, Any]) -> None:
    template = _template(parsed, "modules/functionapp.bicep")
    app = _resource(template, "app")
    assert app["identity"]["type"] == "UserAssigned"
    properties = app["properties"]
    assert properties["httpsOnly"] is True
    assert properties["keyVaultReferenceIdentity"] == "identityId"
    # Health check is not available on Flex Consumption: not set, and documented.
    assert "/api/live" in (INFRA / "README.md").read_text()
    # FTP and SCM basic-auth publishing off: the place for it on Flex.
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

SECRET_PARAMETERS = {
    # parameter: (Key Vault secret, app setting)
    "moengageApiKey": ("moengage-api-key", "MOENGAGE_API_KEY"),
    "kognitivAuthUsername": ("kognitiv-auth-username", "KOGNITIV_AUTH_USERNAME"),
    "kognitivAuthPassword": ("kognitiv-auth-password", "KOGNITIV_AUTH_PASSWORD"),
    "kognitivAuthPasswordPrevious": (
        "kognitiv-auth-password-previous",
        "KOGNITIV_AUTH_PASSWORD_PREVIOUS",
    ),
    "kognitivAuthToken": ("kognitiv-auth-token", "KOGNITIV_AUTH_TOKEN"),
    "kognitivAuthTokenPrevious": ("kognitiv-auth-token-previous", "KOGNITIV_AUTH_TOKEN_PREVIOUS"),
}
VAULT_URI = "https://kv-token.vault.azure.net/"
# Module outputs a deployment would produce, for evaluating main.bicep's settings.
OUTPUTS = {
    "keyVault.outputs.uri": VAULT_URI,
    "keyVault.outputs.name": "kv-token",
    "identity.outputs.clientId": "00000000-0000-0000-0000-00000000c1d0",
    "serviceBus.outputs.fullyQualifiedNamespace": "sb-token.servicebus.windows.net",
    "serviceBus.outputs.namespaceName": "sb-token",
}
REQUIRED = {
    "environmentName": "production",
    "location": "westeurope",
    "moengageAppId": "ACME_MAIN",
    "moengageApiKey": "main-key",
    "moengageDataCenter": "02",
}


def test_key_vault_is_rbac_only_and_recoverable(parsed: dict[str, Any]) -> None:
    template = _template(parsed, "modules/keyvault.bicep")
    properties = _resource(template, "vault")["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["enablePurgeProtection"] is True
    assert "accessPolicies" not in properties
    assert _decorator(template["parameters"]["secrets"], "secure")
    # One secret per non-empty value: an optional credential not given creates none.
    loop = template["modules"]["secret"]["config"]
    assert loop["loop_type"]["detail"] == {"item_name": "item", "object_name": "secrets"}
    assert loop["condition"] == {
        "operator": {
            "type": "not",
            "operands": {
                "bool_value": {
                    "function": {
                        "type": "empty",
                        "parameters": {
                            "item_to_test": {
                                "operator": {
                                    "type": "property_accessor",
                                    "operands": {"operand_1": "item", "operand_2": "value"},
                                }
                            }
                        },
                    }
                }
            },
        }
    }
    main = _template(parsed, "main.bicep")
    secrets = main["modules"]["keyVault"]["config"]["params"]["secrets"]
    assert _plain(secrets) == {secret: name for name, (secret, _) in SECRET_PARAMETERS.items()}


def test_secrets_reach_the_app_as_key_vault_references_only(parsed: dict[str, Any]) -> None:
    main = _template(parsed, "main.bicep")
    for name in SECRET_PARAMETERS:
        assert _decorator(main["parameters"][name], "secure"), name
    given = {name: f"value-of-{name}" for name in SECRET_PARAMETERS}
    settings = _settings(parsed, given)
    for name, (secret, setting) in SECRET_PARAMETERS.items():
        assert settings[setting] == f"@Microsoft.KeyVault(SecretUri={VAULT_URI}secrets/{secret})"
        assert given[name] not in json.dumps(settings), f"{name}'s value reached an app setting"
    # Optional credentials not given: no setting at all (the app reads none).
    settings = _settings(parsed, {})
    assert [s for _, (_, s) in SECRET_PARAMETERS.items() if s in settings] == ["MOENGAGE_API_KEY"]


def test_no_output_carries_a_secure_value(parsed: dict[str, Any]) -> None:
    """The linter's outputs-should-not-contain-secrets: no output expression names a @secure
    parameter, in any template."""
    for name, template in parsed["bicep"].items():
        secure = {
            parameter
            for parameter, declaration in template.get("parameters", {}).items()
            if _decorator(declaration, "secure")
        }
        for output, declaration in template.get("outputs", {}).items():
            expression = json.dumps(declaration["value"])
            used = {p for p in secure if re.search(rf"\b{p}\b", expression)}
            assert not used, f"{name} output {output} uses {used}"


def test_conditional_modules_are_read_with_a_null_check(parsed: dict[str, Any]) -> None:
    """BCP318: a conditional module's outputs are read as `module!.outputs` (guarded by the
    same condition) or `module.?outputs`, never as plain `module.outputs`."""
    for name, template in parsed["bicep"].items():
        conditional = [
            module
            for module, body in template.get("modules", {}).items()
            if "condition" in body["config"]
        ]
        text = (ROOT / name).read_text()
        for module in conditional:
            assert re.search(rf"\b{module}\.outputs\b", text) is None, f"{name}: {module}"
    assert "serviceBus!.outputs" in (INFRA / "main.bicep").read_text()


# ---------------------------------------------------------------------------------------- roles


def _assignments(roles: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """Each role assignment: (role definition id, scope, principal)."""
    ids = roles["variables"]["roleIds"]["value"]
    found = {}
    for name, body in _resources_of_type(roles, "Microsoft.Authorization/roleAssignments").items():
        definition = body["properties"]["roleDefinitionId"]["function"]
        assert definition["type"] == "subscription_resource_id", name
        parameters = definition["parameters"]
        assert parameters["resource_type"] == "Microsoft.Authorization/roleDefinitions", name
        role = parameters["resource_name_1"]["operator"]["operands"]["operand_2"]
        found[name] = (ids[role], body["scope"], body["properties"]["principalId"])
    return found


def test_identity_gets_exactly_the_documented_built_in_roles(parsed: dict[str, Any]) -> None:
    roles = _template(parsed, "modules/roles.bicep")
    assignments = _assignments(roles)
    identity = {
        (role, scope)
        for role, scope, principal in assignments.values()
        if principal == "principalId"
    }
    assert identity == {
        (BUILT_IN_ROLES["Storage Blob Data Owner"], "storage"),
        (BUILT_IN_ROLES["Storage Table Data Contributor"], "storage"),
        (BUILT_IN_ROLES["Key Vault Secrets User"], "vault"),
        (BUILT_IN_ROLES["Monitoring Metrics Publisher"], "applicationInsights"),
        # Manage rights on the main queue alone: the scale controller reads its length.
        (BUILT_IN_ROLES["Azure Service Bus Data Owner"], "queue"),
        (BUILT_IN_ROLES["Azure Service Bus Data Sender"], "deadLetterQueue"),
    }
    operator = {
        (role, scope)
        for role, scope, principal in assignments.values()
        if principal == "operatorPrincipalId"
    }
    assert operator == {(role, "namespace") for role in OPERATOR_ROLES.values()}
    # The queue scopes are the two queues of this deployment, inside its namespace.
    queues = {name: _resource(roles, name) for name in ("queue", "deadLetterQueue")}
    assert {name: (q["parent"], q["name"]) for name, q in queues.items()} == {
        "queue": ("namespace", "serviceBusQueueName"),
        "deadLetterQueue": ("namespace", "deadLetterQueueName"),
    }
    params = _template(parsed, "main.bicep")["modules"]["roles"]["config"]["params"]
    assert params["serviceBusQueueName"] == "serviceBusQueueName"
    assert params["deadLetterQueueName"] == "deadLetterQueueName"
    assert params["operatorPrincipalType"] == "operatorPrincipalType"

    assert _forbidden_roles(_bicep_text()) == []
    documented = (INFRA / "README.md").read_text()
    for role in (*BUILT_IN_ROLES, *OPERATOR_ROLES):
        assert role in documented, f"infra/README.md does not explain {role}"
    # The roles table lists exactly the roles granted to the identity.
    table = documented.split("## Roles", 1)[1].split("No management-plane role", 1)[0]
    listed = set(re.findall(r"^\| ([A-Z][A-Za-z ]+?) \|", table, flags=re.MULTILINE)) - {"role"}
    assert listed == set(BUILT_IN_ROLES)


def _forbidden_roles(text: str) -> list[str]:
    """The forbidden roles whose definition id appears in the text, in any letter case."""
    lowered = text.lower()
    return [role for role, role_id in FORBIDDEN_ROLES.items() if role_id in lowered]


def test_a_forbidden_role_would_be_caught() -> None:
    """Contributor written as Microsoft's role list spells it (upper case here) is found; the id
    this test once held (`...-ab8b-...`) would have let it through."""
    roles = (INFRA / "modules" / "roles.bicep").read_text()
    planted = roles.replace(
        "storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'",
        "storageBlobDataOwner: 'B24988AC-6180-42A0-AB88-20F7382DD24C'",
    )
    assert planted != roles
    assert _forbidden_roles(planted) == ["Contributor"]
    assert "b24988ac-6180-42a0-ab8b-20f7382dd24c" not in planted.lower()


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
    for name in ("serviceBusQueueOwner", "serviceBusDeadLetterSender"):
        assert roles["resources"][name]["config"]["condition"] == "queueMode"
    main = _template(parsed, "main.bicep")
    assert main["modules"]["serviceBus"]["config"]["condition"] == "queueMode"


# ---------------------------------------------------------------------- parameters and settings


def test_parameters(parsed: dict[str, Any]) -> None:
    parameters = _template(parsed, "main.bicep")["parameters"]
    assert _decorator(parameters["moengageDataCenter"], "allowed") == list(DATA_CENTERS)
    assert _decorator(parameters["deliveryMode"], "allowed") == ["queue", "direct"]
    assert _decorator(parameters["kognitivDateOrder"], "allowed") == ["MDY", "DMY"]
    assert _decorator(parameters["kognitivNumberFormat"], "allowed") == ["1,234.56", "1.234,56"]
    assert _decorator(parameters["operatorPrincipalType"], "allowed") == [
        "User",
        "Group",
        "ServicePrincipal",
    ]
    assert parameters["operatorPrincipalType"]["default"] == "User"
    for optional in SECRET_PARAMETERS.keys() - {"moengageApiKey"}:
        assert parameters[optional]["default"] == "", optional
    for table in ("kognitivMappings", "moengageWorkspaces", "extraAppSettings"):
        assert parameters[table]["type"] == "object", table
        assert parameters[table]["default"] == {}, table


def test_location_is_a_flex_consumption_region_azd_offers(parsed: dict[str, Any]) -> None:
    location = _template(parsed, "main.bicep")["parameters"]["location"]
    assert _decorator(location, "metadata") == {"azd": {"type": "location"}}
    regions = _decorator(location, "allowed")
    assert {"westeurope", "northeurope", "eastus", "eastus2", "westus2"} <= set(regions)
    assert len(regions) == len(set(regions))
    assert all(re.fullmatch(r"[a-z0-9]+", region) for region in regions)
    assert "eastus2euap" not in regions  # a canary region, not for production


def test_parameters_file_maps_azd_environment_values(parsed: dict[str, Any]) -> None:
    parameters = _template(parsed, "main.bicep")["parameters"]
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    # Every parameter is an azd environment value, so nothing is set in the portal.
    assert set(mapped) == set(parameters)
    for name, entry in mapped.items():
        assert re.fullmatch(r"\$\{[A-Z0-9_]+(=[^}]*)?\}", entry["value"]), name
    assert mapped["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert mapped["location"]["value"] == "${AZURE_LOCATION}"
    assert mapped["moengageAppId"]["value"] == "${MOENGAGE_APP_ID}"
    assert mapped["moengageApiKey"]["value"] == "${MOENGAGE_API_KEY}"
    assert mapped["moengageDataCenter"]["value"] == "${MOENGAGE_DATA_CENTER}"
    assert mapped["extraAppSettings"]["value"] == "${KOGNITIV_EXTRA_APP_SETTINGS}"
    assert mapped["operatorPrincipalType"]["value"] == "${KOGNITIV_OPERATOR_PRINCIPAL_TYPE=User}"
    # An app setting with its own parameter is read from the azd environment value of its name.
    settings = _template(parsed, "main.bicep")["variables"]["appSettingsFromParameters"]["value"]
    for setting, parameter in settings.items():
        if isinstance(parameter, str) and parameter in mapped:
            assert mapped[parameter]["value"].startswith("${" + setting), setting


def _settings(
    parsed: dict[str, Any], parameters: dict[str, Any], mode: str = "queue"
) -> dict[str, str]:
    """The app settings main.bicep gives the function app for these parameter values, platform
    settings (functionapp.bicep) included."""
    main = Template(
        _template(parsed, "main.bicep"),
        {**REQUIRED, "deliveryMode": mode, **parameters},
        OUTPUTS,
    )
    given = main.evaluate(
        _template(parsed, "main.bicep")["modules"]["functionApp"]["config"]["params"]["appSettings"]
    )
    module = Template(
        _template(parsed, "modules/functionapp.bicep"),
        {
            "planName": "plan",
            "appName": "func",
            "location": "westeurope",
            "tags": {},
            "identityId": "/identity",
            "identityClientId": OUTPUTS["identity.outputs.clientId"],
            "storageAccountName": "sttoken",
            "storageBlobEndpoint": "https://sttoken.blob.core.windows.net/",
            "deploymentContainerName": "app-package",
            "applicationInsightsConnectionString": "InstrumentationKey=x;IngestionEndpoint=y",
            "appSettings": given,
        },
        {},
    )
    return module.variable("allSettings")


def _documented_extra_only() -> dict[str, str]:
    """infra/README.md's settings that have no parameter of their own, with the reason."""
    readme = (INFRA / "README.md").read_text()
    section = readme.split("### Settings without a parameter", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([A-Za-z_]+)` \|([^|]*)\|", section, flags=re.MULTILINE)
    return {name: reason.strip() for name, reason in rows}


def test_every_setting_the_app_reads_can_be_set_through_the_template(
    parsed: dict[str, Any],
) -> None:
    """SETTING_NAMES is the app's own list (its Settings model): a setting added to the app
    without a parameter here, or a documented reason, fails."""
    settings = _settings(parsed, {name: "given" for name in SECRET_PARAMETERS})
    extra_only = _documented_extra_only()
    for name, reason in extra_only.items():
        assert len(reason) > 20, f"{name} needs a reason"
        assert name not in settings, f"{name} has a parameter now: drop it from the table"
    missing = [name for name in SETTING_NAMES if name not in settings and name not in extra_only]
    assert missing == [], "settings the template cannot set"
    assert set(extra_only) <= set(SETTING_NAMES)
    # Those have no parameter but still get through: extraAppSettings passes them on.
    through = _settings(parsed, {"extraAppSettings": dict.fromkeys(extra_only, "given")})
    assert {name: through[name] for name in extra_only} == dict.fromkeys(extra_only, "given")


def test_optional_parameters_left_empty_leave_the_app_its_defaults(
    parsed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _environment(monkeypatch, _settings(parsed, {}))
    settings = load_settings()
    assert settings.moengage_app_id == "ACME_MAIN"
    assert settings.data_center == "02"
    assert settings.moengage_direct_time_budget_seconds == 10.0
    assert settings.moengage_queue_time_budget_seconds == 25.0
    assert settings.kognitiv_retry_horizon_hours == 24.0
    assert settings.kognitiv_number_format == "1,234.56"
    assert settings.kognitiv_mappings is None
    assert settings.kognitiv_mappings_file is None
    assert settings.moengage_workspaces is None
    assert settings.kognitiv_auth_configured is False
    assert settings.queue_mode is True


def test_workspaces_rotation_and_rules_survive_as_parameters(
    parsed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything that used to be added in the portal, given as azd environment values: the
    app reads it all from the settings the template writes."""
    table = {
        "eu": {
            "app_id": "ACME_EU",
            "data_center": "02",
            "api_key_setting": "MOENGAGE_API_KEY_EU",
            "auth_token_setting": "KOGNITIV_AUTH_TOKEN_EU",
            "auth_token_previous_setting": "KOGNITIV_AUTH_TOKEN_EU_PREVIOUS",
        }
    }
    named = named_settings(json.dumps(table))
    assert set(named) == {
        "MOENGAGE_API_KEY_EU",
        "KOGNITIV_AUTH_TOKEN_EU",
        "KOGNITIV_AUTH_TOKEN_EU_PREVIOUS",
    }
    rules = {"points_earned": {"type": "event", "action": "Points Earned"}}
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-token.vault.azure.net/secrets/{})"
    written = _settings(
        parsed,
        {
            "moengageWorkspaces": table,
            "kognitivMappings": rules,
            "kognitivAuthToken": "token",
            "kognitivAuthTokenPrevious": "old-token",
            "moengageQueueTimeBudgetSeconds": "40",
            "kognitivNumberFormat": "1.234,56",
            "extraAppSettings": {name: reference.format(name.lower()) for name in named},
        },
    )
    assert json.loads(written["MOENGAGE_WORKSPACES"]) == table
    assert json.loads(written["KOGNITIV_MAPPINGS"]) == rules
    for name in named:
        assert written[name] == reference.format(name.lower())

    # The platform resolves each Key Vault reference to the secret's value.
    _environment(
        monkeypatch,
        {
            name: f"resolved-{name}" if value.startswith("@Microsoft.KeyVault") else value
            for name, value in written.items()
        },
    )
    settings = load_settings()
    assert settings.kognitiv_auth_token_previous is not None
    assert settings.moengage_queue_time_budget_seconds == 40.0
    assert settings.kognitiv_number_format == "1.234,56"
    workspaces = workspace_settings(settings, os.environ)
    assert set(workspaces) == {"default", "eu"}
    assert workspaces["eu"].moengage_app_id == "ACME_EU"
    assert workspaces["eu"].moengage_api_key.get_secret_value() == "resolved-MOENGAGE_API_KEY_EU"
    assert workspaces["eu"].kognitiv_auth_token_previous.get_secret_value() == (
        "resolved-KOGNITIV_AUTH_TOKEN_EU_PREVIOUS"
    )


def test_extra_app_settings_never_replace_the_templates(parsed: dict[str, Any]) -> None:
    """A name the template sets is the template's: the portal-era habit of overriding a
    parameter with an extra setting cannot silently win (README.md says so)."""
    written = _settings(
        parsed,
        {
            "extraAppSettings": {
                "MOENGAGE_APP_ID": "other",
                "AzureWebJobsStorage__accountName": "elsewhere",
                "KOGNITIV_SERVICE_BUS_QUEUE": "other-queue",
            }
        },
    )
    assert written["MOENGAGE_APP_ID"] == "ACME_MAIN"
    assert written["AzureWebJobsStorage__accountName"] == "sttoken"
    assert written["KOGNITIV_SERVICE_BUS_QUEUE"] == "kognitiv-webhooks"


def _environment(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith(("MOENGAGE_", "KOGNITIV_", "AzureWebJobs")):
            monkeypatch.delenv(name)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


def test_app_settings_are_the_ones_the_app_reads(parsed: dict[str, Any]) -> None:
    queue = _settings(parsed, {}, "queue")
    direct = _settings(parsed, {}, "direct")
    function_switch = "AzureWebJobs.kognitiv_service_bus.Disabled"
    # Read by the Functions host, not by the app: the trigger switch, the credential kind,
    # host storage and telemetry.
    host_only = {
        function_switch,
        "KOGNITIV_SERVICE_BUS__credential",
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    }
    assert set(queue) - host_only <= set(SETTING_NAMES)
    assert queue[NAMESPACE_SETTING] == "sb-token.servicebus.windows.net"
    assert queue[CLIENT_ID_SETTING] == OUTPUTS["identity.outputs.clientId"]
    assert queue["KOGNITIV_SERVICE_BUS__credential"] == "managedidentity"
    assert queue["KOGNITIV_SERVICE_BUS_DEAD_LETTER_QUEUE"] == "kognitiv-webhooks-deadletter"
    assert queue[function_switch] == "false"
    assert direct[function_switch] == "true"
    assert set(queue) - set(direct) == {
        NAMESPACE_SETTING,
        CLIENT_ID_SETTING,
        "KOGNITIV_SERVICE_BUS__credential",
        "KOGNITIV_SERVICE_BUS_DEAD_LETTER_QUEUE",
    }
    # The queue trigger's name and connection prefix, as function_app.py declares them.
    source = (ROOT / "function_app.py").read_text()
    assert "def kognitiv_service_bus(" in source
    assert 'connection="KOGNITIV_SERVICE_BUS"' in source


@pytest.mark.parametrize("mode", ["queue", "direct"])
def test_the_app_sees_the_mode_the_deployment_chose(
    parsed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    _environment(monkeypatch, _settings(parsed, {}, mode))
    assert Settings().queue_mode is (mode == "queue")  # type: ignore[call-arg]


def test_webhook_url_output_holds_no_placeholders(parsed: dict[str, Any]) -> None:
    outputs = _template(parsed, "main.bicep")["outputs"]
    url = Template(
        _template(parsed, "main.bicep"),
        REQUIRED,
        {
            "functionApp.outputs.defaultHostName": "func-token.azurewebsites.net",
        },
    ).evaluate(outputs["KOGNITIV_WEBHOOK_URL"]["value"])
    assert url == "https://func-token.azurewebsites.net/api/kognitiv"
    for output in outputs.values():
        assert "<" not in json.dumps(output["value"])


# --------------------------------------------------------------------------- azd and packaging


def test_azure_yaml_deploys_this_folder_as_a_python_function(parsed: dict[str, Any]) -> None:
    azure_yaml = parsed["azure_yaml"]
    assert azure_yaml["services"]["api"] == {
        "project": ".",
        "language": "python",
        "host": "function",
    }
    app = _resource(_template(parsed, "modules/functionapp.bicep"), "app")
    assert "azd-service-name" in json.dumps(app["tags"])


def test_azure_yaml_requires_an_azd_that_honours_funcignore(parsed: dict[str, Any]) -> None:
    """1.18.0 reads .funcignore at all, 1.23.4 passes JSON to object parameters, 1.23.13 honours
    `!` lines (tests/infra/test_funcignore.py shows older azd would ship nothing)."""
    assert parsed["azure_yaml"]["requiredVersions"] == {"azd": ">= 1.23.13"}
    readme = documentation_text()
    assert "1.23.13 or later" in readme.split("## Deploy to Azure", 1)[1]


def test_azure_yaml_runs_the_webhook_hook_after_deploy(parsed: dict[str, Any]) -> None:
    hook = parsed["azure_yaml"]["hooks"]["postdeploy"]
    assert hook == {
        "posix": {"shell": "sh", "run": "./infra/hooks/postdeploy.sh"},
        "windows": {"shell": "pwsh", "run": "./infra/hooks/postdeploy.ps1"},
    }
    for script in ("postdeploy.sh", "postdeploy.ps1"):
        assert (INFRA / "hooks" / script).is_file(), script


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
        "infra/hooks/webhook_urls.py",
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
    readme = documentation_text()
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


def test_readme_deploy_steps_work_for_a_new_subscription() -> None:
    readme = documentation_text()
    section = readme.split("## Deploy to Azure", 1)[1].split("\n## ", 1)[0]
    azd = section.split("### With azd", 1)[1].split("\n### ", 1)[0]
    prerequisites = azd.split("```", 1)[0]
    # Every tool the steps use is named before them.
    for tool in ("Azure Developer CLI", "Azure CLI", "1.23.13 or later"):
        assert tool in prerequisites, tool
    assert "az provider register --namespace $ns --wait" in azd
    providers = re.search(r"for ns in (.*?); do", azd.replace("\\\n", " "), flags=re.DOTALL)
    assert providers
    assert {"Microsoft.App", "Microsoft.Web", "Microsoft.ServiceBus"} <= set(providers[1].split())
    # The first deploy racing role assignments and Key Vault references: what to do.
    assert "run `azd deploy` again" in azd
    assert "az functionapp restart" in azd
    # Settings live in the azd environment.
    assert "not in the portal" in azd
    assert "azd hooks run postdeploy" in azd


def test_readme_queue_snippets_are_complete_or_point_to_the_complete_one() -> None:
    readme = documentation_text()
    queue = readme.split("### Queue settings and creation", 1)[1].split("\n## ", 1)[0]
    assert "```bash" not in queue, "a partial snippet: point to the complete block instead"
    assert "(deploy.md#queue-mode-by-hand)" in queue
    by_hand = readme.split("#### Queue mode by hand", 1)[1].split("\n### ", 1)[0]
    commands = " ".join(by_hand.replace("\\\n", " ").split())
    for needed in (
        "az servicebus namespace create -g $RG -n $SB -l $LOCATION --sku Standard "
        "--disable-local-auth true",
        "KOGNITIV_SERVICE_BUS__fullyQualifiedNamespace=$SB.servicebus.windows.net",
        "KOGNITIV_SERVICE_BUS__credential=managedidentity",
        "KOGNITIV_SERVICE_BUS__clientId=$CLIENT",
        "KOGNITIV_SERVICE_BUS_DEAD_LETTER_QUEUE=kognitiv-webhooks-deadletter",
        "AzureWebJobs.kognitiv_service_bus.Disabled=false",
        'grant "Azure Service Bus Data Owner" $SB_ID/queues/kognitiv-webhooks',
        'grant "Azure Service Bus Data Sender" $SB_ID/queues/kognitiv-webhooks-deadletter',
    ):
        assert needed in commands, needed
    assert "Storage Queue Data Contributor" not in readme.split("## Deploy to Azure", 1)[1]
