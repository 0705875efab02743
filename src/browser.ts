/**
 * `edgeml/browser`: the clients of the three modes for web pages (and any JavaScript runtime with a global
 * `WebSocket`), over `ws://` and `wss://` endpoints. No Node built-ins and no native dependency: the bundle
 * `dist/browser/edgeml.js` (built by `scripts/build-browser.ts`) holds the WebSocket client and nothing of ZeroMQ.
 *
 * @example
 * ```ts
 * import { InferenceClient, Tensor } from 'edgeml/browser';
 *
 * const client = await InferenceClient.connect('wss://gpu.example.com/edgeml', { ws: { token: 'kiosk-token' } });
 * const { boxes } = await client.call('detect', { image: new Tensor('uint8', new Uint8Array(224 * 224 * 3), [224, 224, 3]) });
 * ```
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
export type { ConnectionStatus, Endpoint } from './core/types.js';
export type { Delivery, SubscriberStats } from './messaging/broadcast.js';
export type { ClientOptions } from './messaging/mode-options.js';
export type { CallOptions, KeyedCallOptions, RetryCallOptions } from './messaging/rpc-client.js';
export { ActionClient, type ObsDelivery } from './modes/action/client.js';
export {
  type ActionClientOptions,
  ActionConfig,
  type ActionConfigInit,
  type ObsStreamOptions,
} from './modes/action/config.js';
export type { KeyedPayloads } from './modes/action/server.js';
export type { InferenceApi, InterfaceSpec, UntypedApi } from './modes/inference/api.js';
export { type InferenceCallOptions, InferenceClient, type InferenceClientOptions } from './modes/inference/client.js';
export { TrainerClient, type TrainerClientOptions, type WeightsCallback } from './modes/trainer/client.js';
export { TrainerConfig, type TrainerConfigOptions } from './modes/trainer/config.js';
export type { WeightsMessage } from './modes/trainer/wire.js';
export { Image, type ImageFormat } from './tensor/image.js';
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
export type { WsClientOptions } from './transport/ws-options.js';
export type { DecodeLimits, EncodeOptions } from './wire/codec.js';
