import type { DescMessage } from "@bufbuild/protobuf";

/**
 * A method of one kind with its request and response descriptors, matched by
 * shape: `DescMethodUnary` and its siblings only appeared in
 * @bufbuild/protobuf 2.2.0, while every 2.x types the methods of a generated
 * `GenService` with these three properties.
 */
export interface MethodOfKind<K extends string, I extends DescMessage, O extends DescMessage> {
  readonly methodKind: K;
  readonly input: I;
  readonly output: O;
}
