/**
 * edgeml: move ML data between edge devices and GPU compute.
 *
 * This is the only public entry point; anything not exported here is internal.
 *
 * @packageDocumentation
 */

export {
  type Delivery,
  Publisher,
  type PublisherOptions,
  type PublisherStats,
  Subscriber,
  type SubscriberOptions,
  type SubscriberStats,
} from './broadcast.js';
export {
  type DecodeLimits,
  decodeMessage,
  type EncodeOptions,
  EXT_BYTES,
  EXT_TENSOR,
  EXT_TYPED_ARRAY,
  encodeMessage,
  type Frame,
  type Value,
} from './codec.js';
export {
  AbortError,
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
} from './errors.js';
export {
  InferenceClient,
  type InferenceClientOptions,
  type InferenceHandler,
  InferenceServer,
  type InferenceServerOptions,
} from './inference.js';
export * from './options.js';
export {
  type CallOptions,
  type RequestContext,
  type RequestHandler,
  RpcClient,
  type RpcClientOptions,
  RpcServer,
  type RpcServerOptions,
  type RpcServerStats,
} from './rpc.js';
export type { LatencySummary } from './stats.js';
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
} from './tensor.js';
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
} from './transport.js';
export { InprocTransport } from './transport-inproc.js';
export { ZmqTransport } from './transport-zmq.js';
