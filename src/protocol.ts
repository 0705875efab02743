/**
 * `edgeml/protocol`: the wire format for tools and for peers in other languages (docs/protocol.md): the codec, the
 * envelopes, the method names and topics of every mode, the data file format, and the transport interface with its
 * scheme registry (for plugging in a transport).
 *
 * @packageDocumentation
 */

export { PROTOCOL_VERSION } from './core/defaults.js';
export { parseEndpoint } from './core/endpoint.js';
export type { Address, Endpoint, Frame, PeerId } from './core/types.js';
export { M_HELLO } from './messaging/handshake.js';
export { M_PING } from './messaging/rpc-server.js';
export { ACTION_MODE, M_ACT, M_OBS, OBS_TOPIC } from './modes/action/config.js';
export { M_CALL, M_INTERFACES } from './modes/inference/api.js';
export {
  FILE_FORMAT_VERSION,
  FILE_MAGIC,
  loadTrainerData,
  readMessageFile,
  type SavedCounters,
  saveTrainerData,
  TRAINER_FILE_KIND,
  type TrainerSnapshot,
  writeMessageFile,
} from './modes/trainer/persist.js';
export { M_REQUEST, M_TRAIN, TRAINER_MODE, WEIGHTS_TOPIC } from './modes/trainer/wire.js';
export { type ImageHeader, readImageHeader, sniffImageFormat } from './tensor/image-header.js';
export { isZ85Key, z85Decode, z85Encode } from './transport/curve-keys.js';
export { knownSchemes, registerScheme, type SchemeEntry, type TransportContext } from './transport/registry.js';
export type {
  ClientHandlers,
  PublishSocket,
  ReplySocket,
  RequestSocket,
  SocketOptions,
  SubscribeSocket,
  Transport,
} from './transport/types.js';
export {
  decodeMessage,
  EXT_BYTES,
  EXT_TENSOR,
  EXT_TYPED_ARRAY,
  encodeMessage,
  type Value,
} from './wire/codec.js';
export {
  decodeEnvelope,
  type Envelope,
  type ErrorEnvelope,
  encodeError,
  encodePublish,
  encodeReply,
  encodeRequest,
  errorFromWire,
  errorToWire,
  type PublishEnvelope,
  type ReplyEnvelope,
  type RequestEnvelope,
  type WireError,
} from './wire/envelopes.js';
export { EXT_IMAGE } from './wire/image-ext.js';
