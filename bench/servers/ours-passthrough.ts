// "ours" with one interceptor that only calls the next: what running the
// interceptor chain costs by itself, apart from what an interceptor does.
import { serveOurs } from "./ours-app.js";

await serveOurs([(next) => (req) => next(req)]);
