// The "fastify-floor" server: Fastify routes the request and runs its request
// lifecycle, then a hijacked route answers with the limit server's code on the
// raw stream or response. No Fastify plugin can be faster than this, so ours'
// distance from it is what the plugin costs, and its distance from the limit
// what Fastify does.
import { serveFloor } from "./floor-app.js";
import { answerH2 } from "./limit-h2.js";

await serveFloor(answerH2);
