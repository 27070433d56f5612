// What a browser on another origin needs to be allowed, for Connect and
// gRPC-Web, in the shape @fastify/cors takes: the request headers the
// protocols send, and the response headers a client must be able to read.

/** HTTP methods of the protocols: POST, and GET for Connect's side-effect-free unary calls. */
export const corsAllowedMethods: readonly string[] = Object.freeze(["POST", "GET"]);

/** Request headers Connect and gRPC-Web clients send, compression included. Add your own metadata names. */
export const corsAllowedHeaders: readonly string[] = Object.freeze([
  "Content-Type",
  "Connect-Protocol-Version",
  "Connect-Timeout-Ms",
  "Connect-Content-Encoding",
  "Connect-Accept-Encoding",
  "Content-Encoding",
  "Grpc-Timeout",
  "Grpc-Encoding",
  "Grpc-Accept-Encoding",
  "X-Grpc-Web",
  "X-User-Agent",
]);

/** Response headers clients read: the gRPC-Web status (trailers-only) and the encodings. Add your own metadata names. */
export const corsExposedHeaders: readonly string[] = Object.freeze([
  "Grpc-Status",
  "Grpc-Message",
  "Grpc-Status-Details-Bin",
  "Grpc-Encoding",
  "Grpc-Accept-Encoding",
  "Connect-Content-Encoding",
  "Connect-Accept-Encoding",
  "Content-Encoding",
]);
