/**
 * edgeml: move ML data between edge devices and GPU compute.
 *
 * This is the only public entry point; anything not exported here is internal.
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
export type { LatencySummary } from './core/latency.js';
export { Batcher, type BatchFunction, type BatchOptions, type BatchStats } from './messaging/batching.js';
export {
  type Delivery,
  Publisher,
  type PublisherOptions,
  type PublisherStats,
  Subscriber,
  type SubscriberOptions,
  type SubscriberStats,
} from './messaging/broadcast.js';
export type { ModeClientOptions, ModeServerOptions } from './messaging/mode-options.js';
export { type CallOptions, RpcClient, type RpcClientOptions } from './messaging/rpc-client.js';
export {
  M_PING,
  type RequestContext,
  type RequestHandler,
  RpcServer,
  type RpcServerOptions,
  type RpcServerStats,
} from './messaging/rpc-server.js';
export {
  type ActCallback,
  ActionClient,
  ActionServer,
  type ActionServerStats,
  type ObsCallback,
  type ObsDelivery,
} from './modes/action/action.js';
export {
  ACTION_MODE,
  type ActionClientOptions,
  ActionConfig,
  type ActionConfigInit,
  type ActionConnectOptions,
  type ActionServerOptions,
  M_ACT,
  M_ACTION_PING,
  M_OBS,
  OBS_TOPIC,
  type ObsStreamOptions,
} from './modes/action/config.js';
export { CartPole, type CartPoleOptions, type StepResult } from './modes/env/cartpole.js';
export {
  ENV_OBSERVATION_KEY,
  ENV_RESET_KEY,
  ENV_STEP_KEY,
  type Environment,
  EnvServer,
  type EnvServerOptions,
  envConfig,
  RemoteEnv,
  type RemoteEnvOptions,
} from './modes/env/env.js';
export {
  type BatchInferenceHandler,
  InferenceClient,
  type InferenceClientOptions,
  type InferenceHandler,
  InferenceServer,
  type InferenceServerOptions,
  type InferenceServerStats,
  type InterfaceOptions,
} from './modes/inference/inference.js';
export { TrainerClient, type TrainerClientOptions, type WeightsCallback } from './modes/trainer/client.js';
export { RateLimiter, TrainerConfig, type TrainerConfigOptions } from './modes/trainer/config.js';
export {
  FILE_FORMAT_VERSION,
  FILE_MAGIC,
  type FileLimits,
  loadTrainerData,
  readMessageFile,
  type SavedCounters,
  saveTrainerData,
  TRAINER_FILE_KIND,
  type TrainerSnapshot,
  writeMessageFile,
} from './modes/trainer/persist.js';
export {
  M_REQUEST,
  M_TRAIN,
  type MakeFromFileOptions,
  type RequestCallback,
  TRAINER_MODE,
  type TrainCallback,
  TrainerServer,
  type TrainerServerOptions,
  type TrainerServerStats,
  WEIGHTS_TOPIC,
  type WeightsMessage,
} from './modes/trainer/server.js';
export {
  DataTable,
  type DataTableOptions,
  type SampleOptions,
  Table,
  type TableStats,
  type WaitOptions,
} from './modes/trainer/tables.js';
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
  isZ85Key,
  type KeyPair,
  type KeySource,
  type PublicKeySource,
  publicKeyOf,
  readKeyFile,
  type ServerSecurity,
  type WriteKeyFilesOptions,
  writeKeyFiles,
} from './transport/curve-keys.js';
export { InprocTransport } from './transport/inproc/inproc-transport.js';
export type {
  Address,
  ClientHandlers,
  ConnectionStatus,
  PeerId,
  PublishSocket,
  ReplySocket,
  RequestSocket,
  SocketOptions,
  SubscribeSocket,
  Transport,
} from './transport/types.js';
export { ZmqTransport, type ZmqTransportOptions } from './transport/zmq/zmq-transport.js';
export {
  type CompressionOptions,
  type DecodeLimits,
  decodeMessage,
  type EncodeOptions,
  EXT_BYTES,
  EXT_TENSOR,
  EXT_TYPED_ARRAY,
  encodeMessage,
  type Frame,
  type Value,
} from './wire/codec.js';
