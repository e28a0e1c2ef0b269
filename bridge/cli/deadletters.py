"""`kognitiv-bridge deadletters`: list or replay dead-lettered queue messages."""

from __future__ import annotations

import argparse
import asyncio
import json
from urllib.parse import urlsplit

from bridge.cli.console import (
    DEAD_LETTER_REASONS,
    EXIT_OK,
    EXIT_USAGE,
    Console,
    configuration_error,
)
from bridge.config.settings import ConfigurationError, Settings
from bridge.deployment.runtime import UnknownWorkspace, current_deployment
from bridge.durable.gateway import QueueGateway, ServiceBusConfig, ServiceBusGateway


async def _deadletters(args: argparse.Namespace, gateway: QueueGateway, console: Console) -> int:
    from bridge.ops.deadletters import list_letters, replay_letters

    workspaces = [args.workspace] if args.workspace else []
    if args.action == "list":
        letters = await list_letters(gateway, args.reason, args.event, args.limit, workspaces)
        if args.json:
            for letter in letters:
                console.print(json.dumps(letter.as_dict()))
            return EXIT_OK
        console.print(
            f"{'ID':<40} {'WORKSPACE':<12} {'REASON':<26} {'EVENT':<22} {'AGE':>6}  DESCRIPTION"
        )
        for letter in letters:
            console.print(
                f"{letter.id[:40]:<40} {letter.workspace[:12]:<12} {letter.reason[:26]:<26} "
                f"{letter.event[:22]:<22} {letter.age:>6}  {letter.description[:80]}"
            )
        console.print(f"{len(letters)} dead letter(s)")
        return EXIT_OK
    if not (args.id or args.reason or args.event or args.workspace or args.all):
        console.error("choose what to replay: --id, --reason, --event or --all")
        return EXIT_USAGE
    done = await replay_letters(gateway, args.id, args.reason, args.event, args.dry_run, workspaces)
    verb = "would replay" if args.dry_run else "replayed"
    for letter in done:
        console.print(f"{verb} {letter.id} ({letter.reason}, {letter.event})")
    console.print(f"{verb} {len(done)} message(s)")
    return EXIT_OK


def _namespace(settings: Settings) -> str:
    """The Service Bus host the settings name (never the connection string's key)."""
    if settings.kognitiv_service_bus_namespace:
        return settings.kognitiv_service_bus_namespace
    connection = settings.kognitiv_service_bus
    for part in (connection.get_secret_value() if connection else "").split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "endpoint":
            return urlsplit(value.strip()).hostname or "?"
    return "?"


def _azure_error_line(error: Exception, settings: Settings) -> str:
    """One line naming the failure: the exception's first line, without any secret."""
    text = (str(error).strip().splitlines() or [""])[0]
    connection = settings.kognitiv_service_bus
    for part in (connection.get_secret_value() if connection else "").split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "sharedaccesskey" and value.strip():
            text = text.replace(value.strip(), "***")
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def _known_workspace(console: Console, name: str) -> bool:
    """False (after one line saying why) when the settings do not define this workspace."""
    try:
        known = current_deployment().names
    except ConfigurationError as error:
        configuration_error(console, error)
        return False
    if name not in known:
        console.error(f"error: {UnknownWorkspace(name, known)}")
        return False
    return True


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    one_workspace: argparse.ArgumentParser,
) -> None:
    """The `deadletters` subcommand and its arguments."""
    dead = commands.add_parser(
        "deadletters",
        parents=[common],
        help="list or replay dead-lettered queue messages",
        description="Read the dead-letter queues (the bridge's own and the main queue's) and "
        "send chosen messages back to the main queue once the cause is fixed.",
    )
    dead_commands = dead.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = dead_commands.add_parser(
        "list", parents=[common], help="show reason, event, age and id"
    )
    resend = dead_commands.add_parser(
        "replay", parents=[common], help="send chosen dead letters back to the queue"
    )
    for sub in (listing, resend):
        sub.add_argument(
            "--reason",
            action="append",
            default=[],
            help=f"filter by reason ({', '.join(DEAD_LETTER_REASONS)}, or the "
            "host's, e.g. MaxDeliveryCountExceeded); repeatable",
        )
        sub.add_argument("--event", action="append", default=[], help="filter by event name")
        sub.add_argument(
            "--workspace",
            metavar="NAME",
            help="only letters of this workspace (their `workspace` property; default: all)",
        )
    listing.add_argument("--limit", type=int, default=100, help="show at most N (default 100)")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    resend.add_argument("--id", action="append", default=[], help="a message id; repeatable")
    resend.add_argument("--all", action="store_true", help="every dead letter (with filters)")
    resend.add_argument("--dry-run", action="store_true", help="show what would be replayed")


def cmd_deadletters(
    args: argparse.Namespace, console: Console, gateway: QueueGateway | None
) -> int:
    if args.workspace and not _known_workspace(console, args.workspace):
        return EXIT_USAGE
    if gateway is not None:
        return asyncio.run(_deadletters(args, gateway, console))
    try:
        deployment = current_deployment()
    except ConfigurationError as error:
        configuration_error(console, error)
        return EXIT_USAGE
    # One queue for all; any workspace that works has its settings (a broken one holds only
    # its own messages, and its letters are still listed and replayed).
    settings = next(iter(deployment.workspaces.values())).settings
    if not settings.queue_mode:
        console.error(
            "deadletters needs KOGNITIV_SERVICE_BUS (or "
            "KOGNITIV_SERVICE_BUS__fullyQualifiedNamespace) and "
            "KOGNITIV_SERVICE_BUS_QUEUE"
        )
        return EXIT_USAGE
    from azure.core.exceptions import AzureError

    try:
        return asyncio.run(
            _deadletters(args, ServiceBusGateway(ServiceBusConfig.from_settings(settings)), console)
        )
    except AzureError as error:
        console.error(
            f"error: cannot reach Service Bus {_namespace(settings)}: "
            f"{_azure_error_line(error, settings)}"
        )
        return EXIT_USAGE
