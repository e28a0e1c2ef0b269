"""A seeded random scheduler over the durable path, and the invariant it checks
(docs/durable-path.md, "Durable path"): every accepted Kognitiv delivery reaches MoEngage exactly
once per element (at least once without a declared identity: never more than once per queued copy
here), or ends in a dead letter with a reason and its body; per member, the last fact applied in
MoEngage is the newest one.

What runs is the real code: the HTTP trigger and the Service Bus trigger of `function_app`, the
real Service Bus gateway on the Service Bus model, the real delivered-keys record on the Table
model, and the MoEngage emulator's handler in process. Several function instances (each with its
own memory: a restart forgets it) take batches concurrently, on a virtual clock that the
scheduler moves. Every call to Service Bus, to the table and to MoEngage asks the scheduler
how it goes: normally, failing, stored with its answer lost, or held (slow, hung) until the
scheduler lets it go, possibly minutes of virtual time later, while other instances receive the
same messages again once their locks expire. The scheduler also injects MoEngage faults (5xx,
429, 413 splits, 400 naming an element, resets), cuts running batches (a function timeout: the
worker restarts, locks expire), restarts idle workers, breaks the dead-letter queue for a while,
publishes messages with poison properties, and replays dead letters as an operator would.

Extra deliveries are allowed only where the bridge cannot know: MoEngage's answer was lost, a
batch was cut after sending and before recording, a delivered mark could not be written, the
record could not answer for a message past its bound (then it is sent anyway), a message has
no MessageId. An older attribute value left out once a newer one was sent (last
writer wins) is superseded, not lost.

A run is decided by its seed: the scheduler's actions, what Kognitiv sends, the bridge's jitter
and ids come from it, and each call's fate from the seed and the call's content (so the
interleaving of unrelated calls does not change it). `run(seed)` returns the problems found
(empty: the invariant held); `main` is `./scripts/soak`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import hashlib
import json
import logging
import math
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from unittest import mock

import httpx
from azure.core.exceptions import HttpResponseError

import function_app
from bridge.common.observations import HEALTH
from bridge.common.version import USER_AGENT
from bridge.config.settings import load_settings, settings_fingerprint
from bridge.deployment import runtime as runtime_module
from bridge.deployment.runtime import CLIENTS, Deployment
from bridge.durable import claim_checks, delivery_record, member_ledger
from bridge.durable import tables as durable_tables
from bridge.durable.delivery_record import DELIVERED
from bridge.durable.gateway import GATEWAYS
from bridge.durable.messages import (
    MEMBER_UNAVAILABLE_SINCE_UTC,
    RECORD_UNAVAILABLE_SINCE_UTC,
    WORKSPACE,
    parse_utc,
)
from bridge.durable.tables import row_of
from bridge.ops.deadletters import replay_letters
from bridge.queue import trigger as queue_trigger
from bridge.queue.processor import RECORD_OUTAGE_SECONDS
from bridge.queue.trigger import TriggerClock
from bridge.webhook import handler as webhook_handler
from delivery import RateLimitGate
from delivery.http import new_client
from moengage_emulator import Emulator
from moengage_emulator.contract import fail_body
from tests.durable_invariant import Fact, invariant_problems
from tests.emulator_inprocess import InProcessEmulator
from tests.fakes import VirtualClock
from tests.servicebus_model import Received, ServiceBusModel, function_message
from tests.table_model import TableModel
from tests.virtual_time import VirtualTimeLoop, product_clocks

QUEUE = "kognitiv"
DEAD = "kognitiv-deadletter"
APP_ID, API_KEY = "sim-app", "sim-key-0123456789"
MOENGAGE_URL = "http://127.0.0.1:9"  # never dialled: requests are answered in process
CONNECTION = "Endpoint=sb://model.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b"
PROFILE_MEMBERS = ("P0", "P1", "P2")
FUNCTION_TIMEOUT = timedelta(minutes=4)  # host.json: the host cuts an invocation there
RECORD_OUTAGE = timedelta(seconds=RECORD_OUTAGE_SECONDS)  # then a held message is sent anyway
EXECUTION: contextvars.ContextVar[int | None] = contextvars.ContextVar("execution", default=None)
POISON = (
    {"first_received_utc": "0001-01-01T00:00:00+01:00"},
    {"delivered_elements": "²"},
    {"attempt": "many"},
    {"attempt": -3},
    {"unavailable_since_utc": "yesterday"},
    {"received_utc": 12},
    {"idempotency_key": ""},
    {WORKSPACE: "nowhere"},
    {WORKSPACE: "x" * 300},
)


@dataclass
class Hold:
    """A call the scheduler holds (slow or hung) until it decides how it ends."""

    kind: str
    execution: int | None
    choices: tuple[str, ...]
    future: asyncio.Future[str]

    def release(self, decision: str) -> None:
        if not self.future.done():
            self.future.set_result(decision)


@dataclass
class Instance:
    """One function instance (worker process): its own deployment, memory and gates."""

    name: str
    deployment: Deployment
    task: asyncio.Task[None] | None = None
    execution: int | None = None
    received: list[Received] = field(default_factory=list)
    started_at: Any = None  # virtual time the invocation started

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()


class Simulation:
    """One run: `await run()` after entering `environment()`."""

    def __init__(
        self, seed: int, moengage: Emulator, steps: int = 120, clock: VirtualClock | None = None
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # the scheduler's actions
        self.facts_rng = random.Random(f"{seed}/facts")  # what Kognitiv sends
        self.release_rng = random.Random(f"{seed}/releases")  # which held call ends, and how
        self.steps = steps
        self.moengage = moengage
        self.clock = clock or VirtualClock()
        self.bus = ServiceBusModel(self.clock)
        self.bus.queue(QUEUE).time_to_live = timedelta(hours=6)
        self.table = TableModel(self._table_fault)  # the delivered-keys record
        self.letters = TableModel(self._letters_fault)  # letters Service Bus could not take
        self.members = TableModel(self._members_fault)  # the order of each member's facts
        self.tables = {
            delivery_record.TABLE_NAME: self.table,
            claim_checks.TABLE_NAME: self.letters,
            member_ledger.TABLE_NAME: self.members,
        }
        self.facts: list[Fact] = []
        self.by_member: dict[str, Fact] = {}
        self.row_facts: dict[tuple[str, str], Fact] = {}
        self.instances: list[Instance] = []
        self.holds: list[Hold] = []
        self.faults_on = True
        self.progress = 0
        self.executions = 0
        self.sent_by: dict[int, set[str]] = {}  # execution -> members in requests it sent
        self.log: list[str] = []
        self.problems: list[str] = []
        self.writes: list[Any] = []  # every message written to Service Bus, with its properties
        self._counters: dict[str, int] = {}
        self._ids = random.Random(f"{seed}/ids")
        self._client: httpx.AsyncClient | None = None
        self._function = function_app.kognitiv_service_bus.build().get_user_function()
        self._webhook = function_app.kognitiv_webhook.build().get_user_function()

    # set-up ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """The app settings and the process-wide seams (gateway, clocks, table, HTTP client),
        restored afterwards."""
        settings = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("MOENGAGE_", "KOGNITIV_", "AzureWebJobsStorage"))
        }
        settings.update(
            MOENGAGE_APP_ID=APP_ID,
            MOENGAGE_API_KEY=API_KEY,
            MOENGAGE_DATA_CENTER="01",
            MOENGAGE_API_BASE_URL=MOENGAGE_URL,
            KOGNITIV_SERVICE_BUS=CONNECTION,
            KOGNITIV_SERVICE_BUS_QUEUE=QUEUE,
            KOGNITIV_RETRY_HORIZON_HOURS="1",
            AzureWebJobsStorage="UseDevelopmentStorage=true",
        )
        with contextlib.ExitStack() as stack:
            stack.enter_context(mock.patch.dict(os.environ, settings, clear=True))
            trigger_clock = TriggerClock(self.clock.wall, self._sleep)
            stack.enter_context(mock.patch.object(queue_trigger, "CLOCK", trigger_clock))
            tables = self.tables

            def table_of(access: Any) -> TableModel:  # every table of the storage account
                return tables[access._table_name]

            stack.enter_context(mock.patch.object(durable_tables.TableAccess, "_table", table_of))
            # the tables' threads
            stack.enter_context(
                mock.patch.object(durable_tables, "ThreadPoolExecutor", self._executor)
            )
            record = delivery_record.TableDeliveryRecord
            stack.enter_context(mock.patch.object(record, "add", self._marks(record.add)))
            stack.enter_context(product_clocks(self.clock))
            stack.enter_context(mock.patch.object(claim_checks, "_built", None))
            stack.enter_context(mock.patch.object(CLIENTS, "get", self._http_client))
            stack.enter_context(mock.patch.object(runtime_module, "_cache", None))
            stack.enter_context(mock.patch.object(uuid, "uuid4", self._uuid4))
            correlation = mock.patch.object(webhook_handler, "new_correlation_id", self._hex_id)
            stack.enter_context(correlation)
            state = random.getstate()
            random.seed(f"{self.seed}/jitter")  # the bridge's retry jitter
            stack.callback(random.setstate, state)
            GATEWAYS.install(self.bus.gateway(QUEUE, DEAD))
            stack.callback(GATEWAYS.install, None)
            stack.callback(HEALTH.clear)
            self.bus.send_hook = self._send_hook
            yield

    def _executor(self, *_: object, thread_name_prefix: str = "") -> SimulatedExecutor:
        return SimulatedExecutor(self, thread_name_prefix)

    def _hex_id(self) -> str:
        return self._uuid4().hex

    def _uuid4(self) -> uuid.UUID:
        """MessageIds of events without identity, correlation ids: seeded, so a seed replays."""
        return uuid.UUID(int=self._ids.getrandbits(128), version=4)

    def _http_client(self) -> httpx.AsyncClient:
        if self._client is None:
            client = new_client(USER_AGENT)
            self._client = httpx.AsyncClient(
                transport=MoEngageLink(self, InProcessEmulator(self.moengage)),
                timeout=client.timeout,
                headers=client.headers,
                follow_redirects=False,
                trust_env=False,
            )
        return self._client

    def _new_instance(self, name: str) -> Instance:
        deployment = Deployment.from_settings(load_settings(), os.environ)
        for runtime in deployment.workspaces.values():
            runtime.gate = RateLimitGate(clock=self.clock.monotonic, sleep=self._sleep)
        return Instance(name, deployment)

    def _use(self, instance: Instance) -> None:
        """The next call runs on this instance (its deployment, its memory)."""
        runtime_module._cache = (settings_fingerprint(), instance.deployment)

    async def _sleep(self, seconds: float) -> None:
        """Waits inside the bridge pass virtual time (and let other tasks run)."""
        if seconds >= 60:
            self.log.append(f"   #{EXECUTION.get()} waits {seconds:.0f} s")
        # whole microseconds, rounded up: a wait until a moment never falls short of it
        self.clock.now += timedelta(microseconds=math.ceil(max(0.0, seconds) * 1e6))
        await asyncio.sleep(0)

    # decisions -----------------------------------------------------------------------------------
    def _draw(self, kind: str) -> random.Random:
        """The random source of the n-th call of this kind with this content: a run's
        decisions do not depend on how the event loop and the threads interleaved calls."""
        number = self._counters.get(kind, 0)
        self._counters[kind] = number + 1
        return random.Random(f"{self.seed}/{kind}/{number}")

    def _decide(self, kind: str, weights: dict[str, float]) -> str:
        self.progress += 1
        if not self.faults_on:
            return "ok"
        draw = self._draw(kind)
        names = list(weights)
        return draw.choices(names, [weights[n] for n in names])[0]

    async def _send_hook(self, queue: str, messages: Any) -> str:
        execution = EXECUTION.get()
        weights = {"ok": 0.78, "refuse": 0.06, "lose_ack": 0.06, "hold": 0.10}
        ids = ",".join(str(m.message_id) for m in messages)
        self.writes.extend(
            (queue, str(m.message_id), sorted((m.application_properties or {}).items(), key=str))
            for m in messages
        )
        decision = self._decide(f"servicebus/{queue}/{ids}", weights)
        if decision != "ok":
            self.log.append(f"   servicebus #{execution} {queue}: {decision}")
        if decision == "hold" and execution is None:  # the scheduler itself is the caller
            decision = "ok"
        if decision != "hold":
            return decision
        return await self._hold("servicebus", execution, ("ok", "refuse", "lose_ack"))

    async def _hold(self, kind: str, execution: int | None, choices: tuple[str, ...]) -> str:
        """Wait until the scheduler releases this call; how it then ends."""
        hold = Hold(kind, execution, choices, asyncio.get_running_loop().create_future())
        self.holds.append(hold)
        return await hold.future

    async def table_call(self, table: str, work: Callable[[], Any], execution: int | None) -> Any:
        """A call on one of the tables' threads: it runs now, or it is slow or hung (held; the
        caller may stop waiting and the call still lands later), or its connection fails."""
        name = getattr(work, "args", None) or getattr(work, "__name__", "")
        decision = self._decide(f"tablecall/{table}/{name}", {"ok": 0.92, "hold": 0.08})
        if decision == "hold" and execution is not None:
            self.log.append(f"   table {table} #{execution}: hold")
            if await self._hold("table", execution, ("ok", "error")) == "error":
                error = HttpResponseError(message="connection reset")
                error.status_code = None
                raise error
        return work()

    def _table_fault(self, operation: str, rows: list[tuple[str, str]]) -> str:
        weights = {"ok": 0.92, "error": 0.05, "lost": 0.03}
        decision = self._decide(f"table/{operation}/{sorted(rows)}", weights)
        if decision != "ok":
            self.log.append(f"   table {operation}: {decision}")
        return decision

    def _marks(self, add: Callable[..., Any]) -> Callable[..., Any]:
        """The delivered-keys record's `add`, noting every delivered mark it did not write by
        the time it returned (a table error, a held call that failed or outlived its wait):
        such an event may be sent once more after its claim expires."""
        simulation = self

        @functools.wraps(add)
        async def marked(record: Any, keys: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return await add(record, keys, *args, **kwargs)
            finally:
                for key in keys:
                    fact = simulation.row_facts.get(row_of(key))
                    if fact is not None and not simulation._recorded(fact):
                        fact.allowance += 1
                        fact.notes.append("its delivered mark could not be written")

        return marked

    def _members_fault(self, operation: str, rows: list[tuple[str, str]]) -> str:
        weights = {"ok": 0.9, "error": 0.05, "lost": 0.05}
        decision = self._decide(f"members/{operation}/{sorted(rows)}", weights)
        if decision != "ok":
            self.log.append(f"   members {operation}: {decision}")
        return decision

    def _letters_fault(self, operation: str, rows: list[tuple[str, str]]) -> str:
        return self._decide(f"letters/{operation}/{sorted(rows)}", {"ok": 0.9, "error": 0.1})

    def _ambiguous(self, members: set[str], why: str) -> None:
        """Facts whose delivery the bridge cannot know about (MoEngage's answer lost, a batch
        cut after sending and before recording) may reach MoEngage once more."""
        for member in members:
            fact = self.by_member.get(member)
            if fact is not None:
                fact.allowance += 1
                fact.notes.append(why)

    def _recorded(self, fact: Fact) -> bool:
        """Whether the delivered-keys record marks the fact's key delivered."""
        if fact.message_id is None:
            return False
        found = self.table.rows.get(row_of(fact.message_id))
        return found is not None and found[0].get("State", DELIVERED) == DELIVERED

    # MoEngage ----------------------------------------------------------------------------------
    async def moengage_call(self, request: httpx.Request, inner: httpx.AsyncBaseTransport) -> Any:
        execution = EXECUTION.get()
        members = _members_in(request)
        if execution is not None:
            self.sent_by.setdefault(execution, set()).update(members)
        weights = {"ok": 0.80, "reset": 0.05, "lost": 0.03, "hold": 0.12}
        digest = hashlib.sha256(request.content).hexdigest()
        decision = self._decide(f"moengage/{digest}", weights)
        if decision != "ok":
            self.log.append(f"   moengage #{execution}: {decision}")
        if decision == "hold":
            decision = await self._hold("moengage", execution, ("ok", "reset", "lost"))
        if decision == "reset":
            raise httpx.ConnectError("connection reset by peer", request=request)
        try:
            response = await inner.handle_async_request(request)
            if decision == "lost":
                await response.aread()
                await response.aclose()
                self._ambiguous(members, "MoEngage's answer was lost")
                raise httpx.ReadTimeout("no answer in time", request=request)
            return response
        finally:
            self.progress += 1

    # the Kognitiv side ---------------------------------------------------------------------------
    def _new_fact(self, kind: str) -> Fact:
        number = len(self.facts)
        if kind == "profile":
            member = self.facts_rng.choice(PROFILE_MEMBERS)
            value = 1000 + number
            body = {
                "memberId": member,
                "memberFirstName": "Sam",
                "memberPointsAvailable": str(value),
                "memberEmailContactAllowed": "True",
            }
            fact = Fact(number, member, kind, body, value=value)
            self.by_member[f"{member}:{value}"] = fact
        else:
            member = f"{'E' if kind == 'reward' else 'N'}{number}"
            issued = "03/14/2026 09:30:00" if kind == "reward" else "03/14/2026"
            body = {
                "memberId": member,
                "issuedDate": issued,
                "rewardType": "Choice",
                "rewardName": f"Voucher {number}",
                "rewardValue": "10.00",
            }
            fact = Fact(number, member, kind, body)
            self.by_member[member] = fact
        self.facts.append(fact)
        return fact

    async def publish_webhook(self) -> None:
        """A Kognitiv delivery through the HTTP trigger; Kognitiv repeats it after a 503 only
        when the answer says a repeat is recognised."""
        kind = self.facts_rng.choice(("reward", "reward", "reward_no_id", "profile"))
        fact = self._new_fact(kind)
        self._use(self.instances[0])
        for _ in range(3):
            status, answer = await self._call_webhook(fact)
            if status == 202:
                fact.accepted = True
                self._identify(fact, str(answer["id"]))
                break
            assert status == 503, (status, answer)
            fact.notes.append("503 queue_unavailable")
            if not answer["error"].get("repeat_recognised"):
                break
        self.log.append(f"publish {fact.kind} {fact.member} accepted={fact.accepted}")

    async def _call_webhook(self, fact: Fact) -> tuple[int, dict[str, Any]]:
        import azure.functions as func

        request = func.HttpRequest(
            "POST",
            f"http://localhost:7071/api/kognitiv/{fact.event}",
            headers={},
            params={},
            route_params={"event": fact.event},
            body=json.dumps(fact.body).encode(),
        )
        response = await self._webhook(request)
        return response.status_code, json.loads(response.get_body())

    def _identify(self, fact: Fact, message_id: str) -> None:
        fact.message_id = message_id
        self.row_facts[row_of(message_id)] = fact

    def publish_poison(self) -> None:
        """A producer's own message (Kognitiv's Service Bus integration, a script) with a
        property no producer should send: data, never a crash."""
        fact = self._new_fact(self.facts_rng.choice(("reward", "reward_no_id")))
        properties: dict[str, Any] = {"event": fact.event}
        properties.update(self.facts_rng.choice(POISON))
        message_id = None if self.facts_rng.random() < 0.2 else f"producer-{fact.number}"
        if message_id is None:  # never matched (README): a redelivery may send it again
            fact.allowance += 100
        else:
            self._identify(fact, message_id)
        self.bus.queue(QUEUE).accept(message_id, json.dumps(fact.body).encode(), properties)
        fact.accepted = True
        fact.notes.append(f"poison {sorted(properties)}")
        self.log.append(f"poison {fact.member} {properties}")

    # the host ------------------------------------------------------------------------------------
    def start(self, instance: Instance, limit: int) -> bool:
        """The host receives a batch for an idle instance and runs the function on it."""
        received = self.bus.queue(QUEUE).receive(limit)
        if not received:
            return False
        self._excuse_record_outages(received)
        self.executions += 1
        instance.execution = self.executions
        instance.received = received
        instance.started_at = self.clock.now
        instance.task = asyncio.get_running_loop().create_task(
            self._execute(instance, self.executions, received)
        )
        self.log.append(f"start {instance.name} #{self.executions} {len(received)} messages")
        return True

    async def _execute(self, instance: Instance, execution: int, received: list[Received]) -> None:
        EXECUTION.set(execution)
        self._use(instance)  # the same step as the trigger's first look at the deployment
        entity = self.bus.queue(QUEUE)
        try:
            await self._function([function_message(r) for r in received])
        except Exception as error:  # the host abandons the batch
            self.log.append(f"#{execution} raised {type(error).__name__}")
            for message in received:
                with contextlib.suppress(Exception):
                    entity.abandon(message)
        else:
            self.log.append(f"#{execution} returned")
            for message in received:  # an expired lock: the message comes back
                with contextlib.suppress(Exception):
                    entity.complete(message)
        finally:
            self.progress += 1
            self.sent_by.pop(execution, None)

    def _excuse_record_outages(self, received: list[Received]) -> None:
        """A message held for longer than the bound because the record could not answer for
        its key is sent anyway (README: at least once, a record outage never stops delivery):
        it may repeat an event already delivered, once per receipt (a batch cut after sending
        it, redelivered while the record still does not answer, sends it again). One held as
        long because its member's row could not be read is sent unordered: an older value may
        then land last."""
        for message in received:
            properties = message.stored.application_properties
            key = properties.get("idempotency_key") or message.message_id
            fact = self.row_facts.get(row_of(str(key)))
            member_since = parse_utc(properties.get(MEMBER_UNAVAILABLE_SINCE_UTC))
            if fact and member_since and self.clock.now - member_since >= RECORD_OUTAGE:
                fact.unordered = True  # its member's row unreadable past the bound: unordered
                fact.notes.append("may be sent unordered after a member-row outage")
            since = parse_utc(properties.get(RECORD_UNAVAILABLE_SINCE_UTC))
            if since is None or self.clock.now - since < RECORD_OUTAGE:
                continue
            if fact is not None:  # each receipt past the bound may send it once more
                fact.allowance += 1
                if "record outage" not in " ".join(fact.notes):
                    fact.notes.append("sent after a record outage past its bound")

    def cut_overdue(self) -> None:
        """The host cuts every invocation that has run for `functionTimeout` (virtual time)."""
        for instance in list(self.instances):
            if instance.busy and self.clock.now - instance.started_at >= FUNCTION_TIMEOUT:
                self.log.append(f"function timeout #{instance.execution}")
                self.cut(instance)

    def cut(self, instance: Instance) -> None:
        """A function timeout or a crash: the worker is restarted; the batch's locks simply
        expire."""
        assert instance.task is not None
        assert instance.execution is not None
        sent = self.sent_by.pop(instance.execution, set())
        unrecorded = {
            member
            for member in sent
            if member in self.by_member and not self._recorded(self.by_member[member])
        }
        self._ambiguous(unrecorded, "its batch was cut before recording it")
        instance.task.cancel()
        self.log.append(f"cut {instance.name} #{instance.execution}")
        self._restart(instance)

    def _restart(self, instance: Instance) -> None:
        index = self.instances.index(instance)
        self.instances[index] = self._new_instance(instance.name)

    # the scheduler -----------------------------------------------------------------------------
    async def quiet(self) -> None:
        """Let every task run until all wait on a held call, a later timer, or are done."""
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop), "run a simulation with run_seed()"
        for _ in range(1_000_000):
            await asyncio.sleep(0)
            if loop.quiet():
                return
        raise RuntimeError("the instances never stop working")

    def release_one(self) -> None:
        waiting = [h for h in self.holds if not h.future.done()]
        self.holds = waiting
        if not waiting:
            return
        hold = waiting[0] if len(waiting) == 1 else self.release_rng.choice(waiting)
        decision = self.release_rng.choice(hold.choices) if self.faults_on else "ok"
        hold.release(decision)
        self.log.append(f"release {hold.kind} -> {decision}")

    def moengage_fault(self) -> None:
        choice = self.rng.randrange(7)
        if choice == 0:
            self.moengage.inject(status=503, times=self.rng.randint(1, 4))
        elif choice == 1:
            self.moengage.inject(status=500, times=1)
        elif choice == 2:
            self.moengage.inject(status=429, times=1, headers={"x-ratelimit-reset": "5"})
        elif choice == 3:
            self.moengage.inject(status=413, times=1)  # split: halves go separately
        elif choice == 4:
            body = fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError")
            self.moengage.inject(status=400, times=1, body=body)
        elif choice == 5:
            self.moengage.inject(drop=True, times=1)
        else:
            self.moengage.inject(status=502, times=2)
        self.log.append(f"moengage fault {choice}")

    async def step(self) -> None:
        actions = {
            "webhook": 0.22,
            "poison": 0.04,
            "start": 0.24,
            "release": 0.14,
            "advance": 0.14,
            "moengage": 0.08,
            "cut": 0.05,
            "restart": 0.03,
            "replay": 0.03,
            "dead_letter_queue": 0.03,
        }
        action = self.rng.choices(list(actions), list(actions.values()))[0]
        idle = [i for i in self.instances if not i.busy]
        busy = [i for i in self.instances if i.busy]
        if action == "webhook":
            await self.publish_webhook()
        elif action == "poison":
            self.publish_poison()
        elif action == "start" and idle:
            self.start(self.rng.choice(idle), self.rng.choice((1, 3, 10, 40)))
        elif action == "release":
            self.release_one()
        elif action == "advance":
            seconds = self.rng.choice((1, 30, 200, 310, 400))  # locks: 300 s
            self.clock.advance(seconds)
            self.log.append(f"advance {seconds} s")
        elif action == "moengage":
            self.moengage_fault()
        elif action == "cut" and busy:
            self.cut(self.rng.choice(busy))
        elif action == "restart" and idle:
            self._restart(self.rng.choice(idle))
        elif action == "replay":
            try:  # an operator's replay: when Service Bus fails it, they run it again later
                replayed = await replay_letters(GATEWAYS.get())
                self.log.append(f"replay {len(replayed)} letters")
            except Exception as error:
                self.log.append(f"replay failed: {type(error).__name__}")
        elif action == "dead_letter_queue":  # missing or full for a while, then back
            faults = self.bus.faults
            broken = DEAD in faults.missing or DEAD in faults.full
            faults.missing.discard(DEAD)
            faults.full.discard(DEAD)
            if not broken:
                (faults.missing if self.rng.random() < 0.5 else faults.full).add(DEAD)
            self.log.append(f"dead-letter queue {'back' if broken else 'broken'}")
        self.cut_overdue()
        await self.quiet()
        self.cut_overdue()

    async def settle_everything(self, max_rounds: int = 4000) -> bool:
        """Faults end; run until the queue is empty (moving the clock to the next due message
        or lock expiry). False when it never empties."""
        self.faults_on = False
        self.moengage.clear_faults()
        self.bus.faults.missing.clear()
        self.bus.faults.full.clear()
        for _ in range(max_rounds):
            for hold in self.holds:
                hold.release("ok")
            self.holds = []
            idle = [i for i in self.instances if not i.busy]
            started = any(self.start(instance, 40) for instance in idle)
            await self.quiet()
            if started or any(i.busy for i in self.instances):
                continue
            entity = self.bus.queue(QUEUE)
            if not entity.messages:
                return True
            due = entity.next_scheduled()
            if due is None:
                if any(m.scheduled_at is None and not m.deferred for m in entity.all()):
                    continue  # written as the last invocation ended: the next round takes them
                return False  # only deferred messages left: nothing will ever move them
            if due > self.clock.now:
                self.clock.now = due
        return False

    async def run(self) -> list[str]:
        logging.disable(logging.CRITICAL)  # thousands of expected warnings
        try:
            return await self._run()
        finally:
            logging.disable(logging.NOTSET)

    async def _run(self) -> list[str]:
        self.instances = [self._new_instance(f"instance-{n}") for n in range(3)]
        try:
            for _ in range(self.steps):
                await self.step()
            drained = await self.settle_everything()
        finally:  # nothing may outlive the run's settings
            tasks = [i.task for i in self.instances if i.task is not None and not i.task.done()]
            for task in tasks:
                task.cancel()
            for hold in self.holds:
                hold.release("ok")
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._client is not None:
                await self._client.aclose()
        problems = [] if drained else ["the queue never emptied: messages circulate forever"]
        if any(f.accepted for f in self.facts) and not self.moengage.accepted:
            # every execution failing (a broken simulation) would otherwise pass: all letters
            problems.append("nothing reached MoEngage: the run exercised no delivery")
        return problems + self.check()

    @property
    def schedule(self) -> list[str]:
        """What the scheduler did, in order (printed with a counterexample)."""
        return list(self.log)

    def digest(self) -> str:
        """A run's fingerprint: its schedule, every message written to Service Bus (properties
        and times included), every request MoEngage saw and how it answered,
        what MoEngage keeps, every letter and the problems found. Equal for equal seeds."""
        letters = [
            (m.message_id, m.body, sorted(m.application_properties.items(), key=str))
            for m in [*self.bus.queue(DEAD).all(), *self.bus.queue(QUEUE).dead_letter.all()]
        ]
        requests = [(r.path, r.body.decode(), r.status) for r in self.moengage.requests]
        state = [self.log, self.writes, requests, self.moengage.profiles, letters, self.problems]
        return hashlib.sha256(json.dumps(state, default=str).encode()).hexdigest()

    # the invariant -------------------------------------------------------------------------------
    def check(self) -> list[str]:
        """The invariant, on what MoEngage kept and every letter (queues and claim checks)."""
        letters = [
            *self.bus.queue(DEAD).all(),
            *self.bus.queue(DEAD).dead_letter.all(),  # type: ignore[union-attr]
            *self.bus.queue(QUEUE).dead_letter.all(),  # type: ignore[union-attr]
        ]
        parked = [values for values, _ in self.letters.rows.values()]
        return invariant_problems(
            self.facts, self.moengage.accepted, self.moengage.profiles, letters, parked
        )


class SimulatedExecutor(concurrent.futures.Executor):
    """A table's thread pool in the simulation: each call is a task on the event loop, so its
    timing is the scheduler's (`Simulation.table_call`), never the threads'. A call is running
    from the start: a caller that stops waiting cannot cancel it, as with a real thread."""

    def __init__(self, simulation: Simulation, name: str) -> None:
        self.simulation = simulation
        self.name = name

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        work = functools.partial(fn, *args, **kwargs) if args or kwargs else fn
        asyncio.get_running_loop().create_task(self._run(future, work))
        return future

    async def _run(self, future: concurrent.futures.Future[Any], work: Callable[[], Any]) -> None:
        try:
            result = await self.simulation.table_call(self.name, work, EXECUTION.get())
        except BaseException as error:  # handed to the caller, as a thread would
            future.set_exception(error)
        else:
            future.set_result(result)


class MoEngageLink(httpx.AsyncBaseTransport):
    """The bridge's HTTP transport to the emulator, with the scheduler deciding each call."""

    def __init__(self, simulation: Simulation, inner: httpx.AsyncBaseTransport) -> None:
        self.simulation = simulation
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.simulation.moengage_call(request, self.inner)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _members_in(request: httpx.Request) -> set[str]:
    try:
        payload = json.loads(request.content)
    except ValueError:
        return set()
    elements = payload.get("elements") if isinstance(payload, dict) else None
    if not isinstance(elements, list):
        elements = [payload]
    return {_fact_key(e) for e in elements if isinstance(e, dict)}


def _fact_key(element: dict[str, Any]) -> str:
    """Which fact an element carries: an event's member, or a profile's member and points."""
    member = str(element.get("customer_id"))
    points = (element.get("attributes") or {}).get("points_balance")
    if element.get("type") == "customer" and isinstance(points, int | float):
        return f"{member}:{int(points)}"
    return member


def simulate(seed: int, steps: int = 120) -> Simulation:
    """One simulated run, start to end, on an event loop of its own in virtual time (no
    threads, no sockets): the same seed gives the same run, every time."""
    clock = VirtualClock()
    moengage = Emulator(app_id=APP_ID, api_key=API_KEY, clock=lambda: clock.now.timestamp())
    simulation = Simulation(seed, moengage, steps, clock)
    runner = asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(clock))
    with runner, simulation.environment():
        simulation.problems = runner.run(simulation.run())
    return simulation


def run_seed(seed: int, steps: int = 120) -> list[str]:
    """One simulated run; the problems found (empty when the invariant held)."""
    return simulate(seed, steps).problems


def main(argv: list[str] | None = None) -> int:
    """`./scripts/soak`: random seeds for a while (or one `--seed`, with its schedule);
    every counterexample is printed with its seed so it can be replayed."""
    import argparse

    parser = argparse.ArgumentParser(prog="soak", description=main.__doc__)
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to search")
    parser.add_argument("--seed", type=int, help="replay this seed only, printing its schedule")
    parser.add_argument("--steps", type=int, default=160, help="scheduler steps per run")
    args = parser.parse_args(argv)
    if args.seed is not None:
        return _replay(args.seed, args.steps)
    stop = time.monotonic() + args.minutes * 60
    seed = random.SystemRandom().randrange(10**9)
    runs, failed = 0, 0
    while time.monotonic() < stop:
        try:
            problems = run_seed(seed, args.steps)
        except Exception as error:  # a broken run is a counterexample too, with its seed
            problems = [f"the simulation failed: {type(error).__name__}: {error}"]
        runs += 1
        if problems:
            failed += 1
            print(f"counterexample: seed {seed} (replay: ./scripts/soak --seed {seed})")
            for problem in problems:
                print(f"  {problem}")
        seed += 1
    print(f"{runs} runs, {failed} counterexamples")
    return 1 if failed else 0


def _replay(seed: int, steps: int) -> int:
    simulation = simulate(seed, steps)
    for line in simulation.schedule:
        print(f"  {line}")
    for problem in simulation.problems:
        print(f"problem: {problem}")
    verdict = "counterexample" if simulation.problems else "the invariant held"
    print(f"seed {seed}: {verdict} (digest {simulation.digest()})")
    return 1 if simulation.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
