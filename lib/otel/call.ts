import { create, type DescMessage, type DescMethod, isMessage, toBinary } from "@bufbuild/protobuf";
import { type Attributes, type Span, SpanStatusCode } from "@opentelemetry/api";
import { Code } from "../protocol/code.js";
import { ConnectError } from "../protocol/error.js";
import type { Telemetry } from "./options.js";
import {
  ATTR_CONNECT_ERROR_CODE,
  ATTR_GRPC_STATUS_CODE,
  ATTR_MESSAGE_ID,
  ATTR_MESSAGE_TYPE,
  ATTR_MESSAGE_UNCOMPRESSED_SIZE,
  addStatusCode,
  EVENT_MESSAGE,
  isSpanError,
  type RpcSystem,
} from "./semconv.js";

/** The code a failed call reports: a ConnectError's own, else internal (what the wire carries for it). */
export function codeOf(error: unknown): Code {
  if (error instanceof ConnectError) return error.code;
  if (error instanceof Error && error.name === "AbortError") return Code.Canceled;
  return Code.Internal;
}

function messageOf(error: unknown): string {
  if (error instanceof ConnectError) return error.rawMessage;
  return error instanceof Error ? error.message : String(error);
}

/**
 * One call's telemetry: its span, its message counts and sizes, and the one
 * place it ends (span status and end, the histograms), whichever of the
 * handler, the stream or an abort gets there first.
 */
export class CallTelemetry {
  private ended = false;
  private readonly startedAt = performance.now();
  private requests = 0;
  private responses = 0;
  private readonly requestSizes: number[] = [];
  private readonly responseSizes: number[] = [];
  private readonly sizes: boolean;
  private readonly events: boolean;
  /** The metric attributes with the status, once the call has ended. */
  private endAttributes?: Attributes;
  /** Whether response sizes come from `responseEncoded` (the server's call) rather than from encoding each message here. */
  private readonly encodedSizes: boolean;

  constructor(
    private readonly t: Telemetry,
    readonly span: Span,
    private readonly side: "server" | "client",
    private readonly system: RpcSystem,
    private readonly method: DescMethod,
    private readonly metricAttributes: Attributes,
    /** The server's own call, which measures the messages it decodes and encodes; the client has none. */
    private readonly serverCall?: { decodedSize(message: unknown): number | undefined },
  ) {
    this.events = t.messageEvents && span.isRecording();
    this.sizes = this.events || t.instruments !== undefined;
    // Message events need each size as the message passes; the histograms can wait for the encoder's count.
    this.encodedSizes = serverCall !== undefined && !this.events;
  }

  /** Whether the server should report each encoded response to `responseEncoded`. */
  get wantsEncodedSizes(): boolean {
    return this.encodedSizes && this.sizes;
  }

  /** A request message: read by the server, or sent by the client. */
  request(message: unknown): void {
    this.requests++;
    if (!this.sizes) return;
    const size = this.serverCall?.decodedSize(message) ?? sizeOf(this.method.input, message);
    this.requestSizes.push(size);
    if (this.events) this.event(this.side === "server" ? "RECEIVED" : "SENT", this.requests, size);
  }

  /** A response message: sent by the server, or read by the client. */
  response(message: unknown): void {
    this.responses++;
    if (!this.sizes || this.encodedSizes) return;
    const size = sizeOf(this.method.output, message);
    this.responseSizes.push(size);
    if (this.events) this.event(this.side === "server" ? "SENT" : "RECEIVED", this.responses, size);
  }

  /**
   * A response message as the server encoded it, with its binary size when
   * the encoder knows it (undefined for JSON). A unary call has ended by
   * then (at its handler's return): its size is recorded at once.
   */
  responseEncoded(message: unknown, binaryBytes: number | undefined): void {
    const size = binaryBytes ?? sizeOf(this.method.output, message);
    if (!this.endAttributes) this.responseSizes.push(size);
    else this.t.instruments?.responseSize.record(size, this.endAttributes);
  }

  private event(type: "SENT" | "RECEIVED", id: number, size: number): void {
    this.span.addEvent(EVENT_MESSAGE, {
      [ATTR_MESSAGE_TYPE]: type,
      [ATTR_MESSAGE_ID]: id,
      [ATTR_MESSAGE_UNCOMPRESSED_SIZE]: size,
    });
  }

  /** Ends the call, once: `error` undefined for success. */
  end(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    const code = error === undefined ? undefined : codeOf(error);
    const attrs = withStatus(this.metricAttributes, this.system, code);
    this.endAttributes = attrs;
    const span = this.span;
    if (span.isRecording()) {
      if (this.system === "grpc") span.setAttribute(ATTR_GRPC_STATUS_CODE, attrs[ATTR_GRPC_STATUS_CODE] as number);
      else if (code !== undefined) span.setAttribute(ATTR_CONNECT_ERROR_CODE, attrs[ATTR_CONNECT_ERROR_CODE] as string);
      if (isSpanError(this.system, this.side, code)) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(error) });
      }
      span.end();
    }
    const m = this.t.instruments;
    if (!m) return;
    m.duration.record(performance.now() - this.startedAt, attrs);
    for (const s of this.requestSizes) m.requestSize.record(s, attrs);
    for (const s of this.responseSizes) m.responseSize.record(s, attrs);
    // Messages per call: for streams (a unary call has one of each by definition, rpc-metrics.md).
    if (this.method.methodKind !== "unary") {
      m.requestsPerRpc.record(this.requests, attrs);
      m.responsesPerRpc.record(this.responses, attrs);
    }
  }
}

// The metric attributes of a call plus its status code, made once per set of
// attributes and code: the histograms record several times per call.
const byStatus = new WeakMap<Attributes, Map<number, Attributes>>();

function withStatus(base: Attributes, system: RpcSystem, code: Code | undefined): Attributes {
  let codes = byStatus.get(base);
  if (!codes) {
    codes = new Map();
    byStatus.set(base, codes);
  }
  const key = code ?? 0;
  let attrs = codes.get(key);
  if (!attrs) {
    attrs = { ...base };
    addStatusCode(attrs, system, code);
    codes.set(key, attrs);
  }
  return attrs;
}

/** The uncompressed protobuf size of a message; a handler's plain init object is made a message first. */
function sizeOf(schema: DescMessage, message: unknown): number {
  const m = isMessage(message, schema) ? message : create(schema, message as never);
  return toBinary(schema, m).byteLength;
}
