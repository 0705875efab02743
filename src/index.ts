/**
 * edgeml: move ML data between edge devices and GPU compute.
 *
 * The main entry point: the three modes (and remote environments), tensors, errors, key tools and the types users
 * need. Wire-level tools are in `edgeml/protocol`, test helpers in `edgeml/testing`, the ZeroMQ transport class in
 * `edgeml/zmq`. Importing this entry loads no native addon: the ZeroMQ transport is loaded when a `tcp://` endpoint is
 * first used.
 *
 * @packageDocumentation
 */

export * from './core/defaults.js';
export {
  AbortError,
  AuthenticationError,
  ClosedError,
  ConfigMismatchError,
  EdgeMLError,
  type EdgeMLErrorOptions,
  type ErrorCode,
  InvalidArgumentError,
  LimitError,
  NotFoundError,
  ProtocolError,
  RemoteError,
  TimeoutError,
} from './core/errors.js';
export type { MethodStats } from './core/latency.js';
export type { ConnectionStatus, Endpoint } from './core/types.js';
export {
  type BackendChoice,
  type DecodeImageOptions,
  decodeImage,
  type EncodeImageOptions,
  encodeImage,
  type ImageBackendName,
} from './image/codec.js';
export type { ImageSpec, ImageSpecs } from './image/payload.js';
export type { BatchOptions, BatchStats } from './messaging/batching.js';
export type { Delivery, PublisherStats, SubscriberStats } from './messaging/broadcast.js';
export type { ClientOptions, ServerOptions } from './messaging/mode-options.js';
export type { CallOptions, KeyedCallOptions, RetryCallOptions } from './messaging/rpc-client.js';
export type { ServerStats } from './messaging/rpc-server.js';
export { ActionClient, type ObsDelivery } from './modes/action/client.js';
export {
  type ActionClientOptions,
  ActionConfig,
  type ActionConfigInit,
  type ActionServerOptions,
  type ObsStreamOptions,
} from './modes/action/config.js';
export {
  type ActCallback,
  type ActionContext,
  ActionServer,
  type ActionServerStats,
  type KeyedPayloads,
  type ObsCallback,
} from './modes/action/server.js';
export type { StepResult } from './modes/env/cartpole.js';
export {
  type Environment,
  EnvServer,
  type EnvServerOptions,
  envConfig,
  RemoteEnv,
  type RemoteEnvOptions,
} from './modes/env/env.js';
export type {
  BatchInferenceHandler,
  HandlerContext,
  InferenceApi,
  InferenceHandler,
  InterfaceDescription,
  InterfaceSpec,
  UntypedApi,
} from './modes/inference/api.js';
export { type InferenceCallOptions, InferenceClient, type InferenceClientOptions } from './modes/inference/client.js';
export {
  InferenceServer,
  type InferenceServerOptions,
  type InferenceServerStats,
  type InterfaceOptions,
} from './modes/inference/server.js';
export {
  TrainerClient,
  type TrainerClientOptions,
  type TrainStepOptions,
  type WeightsCallback,
} from './modes/trainer/client.js';
export { TrainerConfig, type TrainerConfigOptions } from './modes/trainer/config.js';
export type { FileLimits } from './modes/trainer/persist.js';
export {
  type MakeFromFileOptions,
  type RequestCallback,
  type TrainCallback,
  type TrainerContext,
  TrainerServer,
  type TrainerServerOptions,
  type TrainerServerStats,
} from './modes/trainer/server.js';
export { TableReader, type TableReaderOptions, type TableReaderStats } from './modes/trainer/table-reader.js';
export {
  DataTable,
  type DataTableOptions,
  type SampleOptions,
  type TableStats,
  type WaitOptions,
} from './modes/trainer/tables.js';
export type { WeightsMessage } from './modes/trainer/wire.js';
export {
  IMAGE_FORMATS,
  Image,
  type ImageDecodeOptions,
  type ImageFormat,
  isImage,
  isImageFormat,
} from './tensor/image.js';
export {
  arrayTypeOf,
  DTYPES,
  type DType,
  type DTypeArrayMap,
  dtypeOfArray,
  isDType,
  isTensor,
  itemSize,
  shapeSize,
  Tensor,
  type TypedArray,
  type TypedArrayConstructor,
} from './tensor/tensor.js';
export {
  type ClientSecurity,
  generateKeyPair,
  type KeyPair,
  type KeySource,
  type PublicKeySource,
  publicKeyOf,
  readKeyFile,
  type ServerSecurity,
  type WriteKeyFilesOptions,
  writeKeyFiles,
} from './transport/curve-keys.js';
export type { Transport } from './transport/types.js';
export type { CompressionOptions, DecodeLimits, EncodeOptions } from './wire/codec.js';
