import { create, type DescService, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code } from "../protocol/code.js";
import type { ServiceImpl } from "../server/router.js";
import { DescriptorIndex } from "./descriptor-index.js";
import * as v1 from "./gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "./gen/grpc/reflection/v1alpha/reflection_pb.js";

// gRPC server reflection (grpc/grpc doc/server-reflection.md): grpc.reflection.v1
// and its older twin v1alpha, whose messages are the same on the wire.

/** The reflection services, both versions, for the plugin to register. */
export const reflectionServices = [v1.ServerReflection, v1alpha.ServerReflection] as const;

type Answer = MessageInitShape<typeof v1.ServerReflectionResponseSchema>["messageResponse"];

function notFound(message: string): Answer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } };
}

/** Answers one question; `sent` holds the files this stream already carried. */
function answer(index: DescriptorIndex, req: v1.ServerReflectionRequest, sent: Set<string>): Answer {
  const files = (file: ReturnType<DescriptorIndex["fileByName"]>): Answer | undefined =>
    file && { case: "fileDescriptorResponse", value: { fileDescriptorProto: index.withImports(file, sent) } };
  const q = req.messageRequest;
  switch (q.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.serviceNames.map((name) => ({ name })) } };
    case "fileByFilename":
      return files(index.fileByName(q.value)) ?? notFound(`file "${q.value}" not found`);
    case "fileContainingSymbol":
      return files(index.fileBySymbol(q.value)) ?? notFound(`symbol "${q.value}" not found`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = q.value;
      return (
        files(index.fileByExtension(containingType, extensionNumber)) ??
        notFound(`extension ${extensionNumber} of message "${containingType}" not found`)
      );
    }
    case "allExtensionNumbersOfType":
      if (!index.hasMessage(q.value)) return notFound(`message type "${q.value}" not found`);
      return {
        case: "allExtensionNumbersResponse",
        value: { baseTypeName: q.value, extensionNumber: index.extensionNumbers(q.value) },
      };
    default:
      return {
        case: "errorResponse",
        value: {
          errorCode: Code.InvalidArgument,
          errorMessage:
            "the request sets none of file_by_filename, file_containing_symbol, file_containing_extension, all_extension_numbers_of_type, list_services",
        },
      };
  }
}

/**
 * Both reflection services over the services `registered()` returns (read on
 * the first call, once every service, these included, is registered).
 */
export function reflectionImpls(registered: () => readonly DescService[]): {
  v1: ServiceImpl<typeof v1.ServerReflection>;
  v1alpha: ServiceImpl<typeof v1alpha.ServerReflection>;
} {
  let index: DescriptorIndex | undefined;
  const respond = (req: v1.ServerReflectionRequest, sent: Set<string>) => {
    index ??= new DescriptorIndex(registered());
    return create(v1.ServerReflectionResponseSchema, {
      validHost: req.host,
      originalRequest: req,
      messageResponse: answer(index, req, sent),
    });
  };
  return {
    v1: {
      async *serverReflectionInfo(reqs) {
        const sent = new Set<string>();
        for await (const req of reqs) yield respond(req, sent);
      },
    },
    v1alpha: {
      // The v1alpha messages are v1's under another package: same fields and numbers.
      async *serverReflectionInfo(reqs) {
        const sent = new Set<string>();
        for await (const req of reqs) {
          const v1Req = fromBinary(
            v1.ServerReflectionRequestSchema,
            toBinary(v1alpha.ServerReflectionRequestSchema, req),
          );
          const res = respond(v1Req, sent);
          yield fromBinary(v1alpha.ServerReflectionResponseSchema, toBinary(v1.ServerReflectionResponseSchema, res));
        }
      },
    },
  };
}
