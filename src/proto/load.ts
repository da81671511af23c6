/**
 * Loads the control-plane protos (identity.proto, mesh.proto) with
 * `@grpc/proto-loader` at run time: no generated code, no build step.
 *
 * Loader options are fixed here for both sides of every call, so the shapes in
 * `types.ts` hold everywhere: camelCase fields, int64 as JS numbers (Unix ms
 * fits in 2^53), enums as their names, absent sub-messages as null, and a
 * virtual `kind` field naming the member of a oneof that is set.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const dir = fileURLToPath(new URL('.', import.meta.url));

export const loaderOptions: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
  includeDirs: [dir],
};

export interface ControlPlaneProtos {
  readonly identity: grpc.ServiceDefinition;
  readonly mesh: grpc.ServiceDefinition;
  /** Client constructors, for `new IdentityClient(target, creds, options)`. */
  readonly IdentityClient: grpc.ServiceClientConstructor;
  readonly MeshClient: grpc.ServiceClientConstructor;
}

let cached: ControlPlaneProtos | undefined;

/** Parse the protos once per process (a few ms) and hand out the definitions. */
export function controlPlaneProtos(): ControlPlaneProtos {
  if (cached) return cached;
  const pkg = protoLoader.loadSync(['identity.proto', 'mesh.proto'], loaderOptions);
  const loaded = grpc.loadPackageDefinition(pkg) as unknown as {
    aimmesh: {
      identity: { v1: { Identity: grpc.ServiceClientConstructor } };
      mesh: { v1: { Mesh: grpc.ServiceClientConstructor } };
    };
  };
  const IdentityClient = loaded.aimmesh.identity.v1.Identity;
  const MeshClient = loaded.aimmesh.mesh.v1.Mesh;
  cached = { identity: IdentityClient.service, mesh: MeshClient.service, IdentityClient, MeshClient };
  return cached;
}
