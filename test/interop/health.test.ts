// gRPC health checking (grpc/grpc doc/health-checking.md) against real clients:
// the grpc-health-check package's @grpc/grpc-js client, and connect-node over
// Connect and gRPC-Web.
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import Fastify from "fastify";
import { service as healthDefinition } from "grpc-health-check";
import t from "tap";
import { createGrpcHealth, fastifyConnectRpc, type GrpcHealth, onePortServerFactory } from "../../lib/index.js";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../../lib/services/gen/grpc/health/v1/health_pb.js";
import { TestService } from "../gen/fcr/test/v1/test_pb.js";
import { within } from "../helpers/client-calls.js";
import { rejection } from "../helpers/peer.js";
import { type StartedServer, startServer } from "../helpers/server.js";

const TEST_SERVICE = "fcr.test.v1.TestService";

interface HealthStatusReply {
  status: string;
}
interface GrpcHealthClient extends grpc.Client {
  check(
    req: { service: string },
    cb: (err: grpc.ServiceError | null, res?: HealthStatusReply) => void,
  ): grpc.ClientUnaryCall;
  list(
    req: object,
    cb: (err: grpc.ServiceError | null, res?: { statuses: Record<string, HealthStatusReply> }) => void,
  ): grpc.ClientUnaryCall;
  watch(req: { service: string }): grpc.ClientReadableStream<HealthStatusReply>;
}

/** The grpc-health-check package's service definition as a grpc-js client. */
function healthClient(port: number): GrpcHealthClient {
  const Client = grpc.makeGenericClientConstructor(healthDefinition as grpc.ServiceDefinition, "Health");
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as GrpcHealthClient;
}

function check(client: GrpcHealthClient, service: string): Promise<{ status?: string; code: number }> {
  return new Promise((resolve) => {
    client.check({ service }, (err, res) => resolve({ status: res?.status, code: err?.code ?? 0 }));
  });
}

/** A Watch stream's messages as they come, and how it ended. */
function watch(client: GrpcHealthClient, service: string) {
  const statuses: string[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const call = client.watch({ service });
  call.on("data", (m: HealthStatusReply) => {
    statuses.push(m.status);
    for (const w of waiters.splice(0))
      if (statuses.length >= w.n) w.resolve();
      else waiters.push(w);
  });
  const ended = new Promise<number>((resolve) => {
    call.on("error", (e: grpc.ServiceError) => resolve(e.code));
    call.on("status", (s: grpc.StatusObject) => resolve(s.code));
  });
  return {
    statuses,
    call,
    ended,
    /** Resolves once `n` messages arrived. */
    received(n: number): Promise<void> {
      if (statuses.length >= n) return Promise.resolve();
      return within(new Promise<void>((resolve) => waiters.push({ n, resolve })), 3000, `${n} Watch messages`);
    },
  };
}

async function serve(health: GrpcHealth | true): Promise<StartedServer> {
  return startServer({ fastify: { serverFactory: onePortServerFactory() }, plugin: { grpcHealth: health } });
}

t.test("grpc-health-check client (grpc-js): Check, List and Watch as the spec says", async (t) => {
  const health = createGrpcHealth();
  const s = await serve(health);
  t.teardown(s.close);
  const client = healthClient(s.port);
  t.teardown(() => client.close());

  t.same(await check(client, ""), { status: "SERVING", code: 0 }, `"" (the whole server) starts SERVING`);
  t.same(await check(client, TEST_SERVICE), { status: "SERVING", code: 0 }, "a registered service starts SERVING");
  const unknown = await check(client, "no.such.Service");
  t.equal(unknown.code, grpc.status.NOT_FOUND, "Check of an unknown service fails with NOT_FOUND");

  const listed = await new Promise<Record<string, HealthStatusReply> | undefined>((resolve) =>
    client.list({}, (_err, res) => resolve(res?.statuses)),
  );
  t.same(listed, { "": { status: "SERVING" }, [TEST_SERVICE]: { status: "SERVING" } }, "List: every known service");

  const w = watch(client, TEST_SERVICE);
  await w.received(1);
  t.same(w.statuses, ["SERVING"], "Watch sends the current status at once");
  health.setStatus(TEST_SERVICE, "NOT_SERVING");
  await w.received(2);
  health.setStatus(TEST_SERVICE, "NOT_SERVING");
  health.setStatus(TEST_SERVICE, "SERVING");
  await w.received(3);
  t.same(w.statuses, ["SERVING", "NOT_SERVING", "SERVING"], "then one message per change (a same-status set is none)");
  t.same(await check(client, TEST_SERVICE), { status: "SERVING", code: 0 });

  const later = watch(client, "later.Service");
  await later.received(1);
  t.same(later.statuses, ["SERVICE_UNKNOWN"], "Watch of an unknown service: SERVICE_UNKNOWN, and the call stays open");
  health.setStatus("later.Service", "NOT_SERVING");
  await later.received(2);
  t.same(later.statuses, ["SERVICE_UNKNOWN", "NOT_SERVING"], "it gets the status once the service appears");
  w.call.cancel();
  later.call.cancel();
  t.equal(await w.ended, grpc.status.CANCELLED, "a cancelled Watch ends");
});

t.test("connect-node over Connect and gRPC-Web: Check, List and Watch", async (t) => {
  const health = createGrpcHealth();
  const s = await serve(health);
  t.teardown(s.close);
  for (const [name, transport] of [
    ["connect", createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" })],
    ["grpc-web", createGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" })],
  ] as const) {
    health.setStatus(TEST_SERVICE, "SERVING");
    const client = createConnectClient(Health, transport);
    t.equal((await client.check({ service: "" })).status, Status.SERVING, `${name}: Check ""`);
    t.equal((await rejection(client.check({ service: "nope" }))).code, 5, `${name}: unknown service is not_found`);
    const list = await client.list({});
    t.same(Object.keys(list.statuses).sort(), ["", TEST_SERVICE], `${name}: List`);
    const seen: Status[] = [];
    const controller = new AbortController();
    const done = (async () => {
      try {
        for await (const m of client.watch({ service: TEST_SERVICE }, { signal: controller.signal })) {
          seen.push(m.status);
          if (seen.length === 1) health.setStatus(TEST_SERVICE, "NOT_SERVING");
          if (seen.length === 2) controller.abort();
        }
      } catch {}
    })();
    await within(done, 3000, `${name} Watch`);
    t.same(seen, [Status.SERVING, Status.NOT_SERVING], `${name}: Watch sees the change`);
  }
});

t.test(
  "fastify.close(): NOT_SERVING reaches open Watch streams before in-flight calls drain, then they end",
  async (t) => {
    const health = createGrpcHealth();
    const s = await serve(health);
    const grpcClient = healthClient(s.port);
    t.teardown(() => grpcClient.close());
    const grpcWatch = watch(grpcClient, TEST_SERVICE);
    const wholeServer = watch(grpcClient, "");
    await grpcWatch.received(1);
    await wholeServer.received(1);

    const connectStatuses: Status[] = [];
    const connectClient = createConnectClient(
      Health,
      createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" }),
    );
    const connectWatch = (async () => {
      for await (const m of connectClient.watch({ service: TEST_SERVICE })) connectStatuses.push(m.status);
      return "ended";
    })();
    const webStatuses: Status[] = [];
    const webClient = createConnectClient(Health, createGrpcWebTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" }));
    const webWatch = (async () => {
      for await (const m of webClient.watch({ service: "" })) webStatuses.push(m.status);
      return "ended";
    })();
    while (connectStatuses.length === 0 || webStatuses.length === 0) await new Promise((r) => setTimeout(r, 5));

    // A call in flight when the close begins: it must finish, after the watchers heard NOT_SERVING.
    const events: string[] = [];
    const test = createConnectClient(TestService, createConnectTransport({ baseUrl: s.baseUrl, httpVersion: "1.1" }));
    const slow = test.unary({ text: "slow", delayMs: 500 }).then((r) => {
      events.push("slow call done");
      return r.text;
    });
    await new Promise((r) => setTimeout(r, 50));
    void grpcWatch.received(2).then(() => events.push("grpc-js watcher: NOT_SERVING"));
    const closed = s.close();

    await grpcWatch.received(2);
    await wholeServer.received(2);
    t.same(grpcWatch.statuses, ["SERVING", "NOT_SERVING"], "grpc-js Watch of the service gets NOT_SERVING");
    t.same(wholeServer.statuses, ["SERVING", "NOT_SERVING"], `grpc-js Watch of "" gets NOT_SERVING`);
    t.equal(
      await within(grpcWatch.ended, 3000, "grpc-js Watch ends"),
      grpc.status.OK,
      "then the Watch stream ends (OK)",
    );
    t.equal(await within(connectWatch, 3000, "connect Watch ends"), "ended", "the Connect Watch stream ends too");
    t.same(connectStatuses, [Status.SERVING, Status.NOT_SERVING], "after NOT_SERVING");
    t.equal(await within(webWatch, 3000, "gRPC-Web Watch ends"), "ended", "the gRPC-Web Watch stream ends too");
    t.same(webStatuses, [Status.SERVING, Status.NOT_SERVING], "after NOT_SERVING");
    t.equal(await slow, "slow", "the in-flight call completed");
    await closed;
    t.same(
      events,
      ["grpc-js watcher: NOT_SERVING", "slow call done"],
      "NOT_SERVING reached the watcher while the in-flight call was still running",
    );
    health.setStatus(TEST_SERVICE, "SERVING");
    t.equal(health.getStatus(TEST_SERVICE), "NOT_SERVING", "statuses stay NOT_SERVING once shutdown began");
  },
);

t.test("statuses the app set before registering are kept; bad options and statuses are refused", async (t) => {
  const health = createGrpcHealth();
  health.setStatus(TEST_SERVICE, "NOT_SERVING");
  const s = await serve(health);
  t.teardown(s.close);
  t.equal(health.getStatus(TEST_SERVICE), "NOT_SERVING", "kept");
  t.equal(health.getStatus(""), "SERVING", `"" set by the plugin`);
  t.equal(health.getStatus("other"), undefined);
  t.throws(
    () => health.setStatus("x", "BROKEN" as "SERVING"),
    /health status must be "SERVING", "NOT_SERVING" or "UNKNOWN"; got "BROKEN"/,
  );
  t.throws(() => health.setStatus(1 as unknown as string, "SERVING"), /health service name must be a string/);

  const bad = Fastify();
  t.teardown(() => bad.close().catch(() => {}));
  await t.rejects(
    async () => {
      await bad.register(fastifyConnectRpc, { routes() {}, grpcHealth: "yes" as unknown as true });
    },
    { message: /option "grpcHealth" must be true or a createGrpcHealth\(\) object/ },
  );
  const bad2 = Fastify();
  t.teardown(() => bad2.close().catch(() => {}));
  await t.rejects(
    async () => {
      await bad2.register(fastifyConnectRpc, { routes() {}, grpcReflection: 1 as unknown as boolean });
    },
    { message: /option "grpcReflection" must be a boolean/ },
  );
});

t.test("grpcHealth: true serves a default registry", async (t) => {
  const s = await serve(true);
  t.teardown(s.close);
  const client = healthClient(s.port);
  t.teardown(() => client.close());
  t.same(await check(client, TEST_SERVICE), { status: "SERVING", code: 0 });
});
