/**
 * Every default edgeml uses, as a named constant. Options objects elsewhere refer to these.
 *
 * @module
 */

/** Version of the wire protocol spoken by this library (docs/protocol.md). */
export const PROTOCOL_VERSION = 1;

/** This library's version (package.json's; a test keeps the two equal), as servers report it in discovery. */
export const LIBRARY_VERSION = '0.2.0';

/** Host servers bind to when none is given: loopback only, so nothing is exposed by accident.
 * @default '127.0.0.1' */
export const DEFAULT_BIND_HOST = '127.0.0.1';

/** Per-call deadline of a client request, in milliseconds.
 * @default 10000 */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Deadline of a connect handshake (action and trainer clients), in milliseconds.
 * @default 5000 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** Largest number of frames in one message.
 * @default 1024 */
export const DEFAULT_MAX_FRAMES = 1024;

/** Largest message, all frames together (decompressed), in bytes. Also the per-frame limit given to ZeroMQ, so a
 * peer that sends a larger frame is disconnected before the frame is allocated. Large enough for 100 MB weights;
 * lower it on exposed servers (docs/security.md).
 * @default 256 MiB */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** Largest header (frame 0) in bytes.
 * @default 16 MiB */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024 * 1024;

/** Deepest nesting of arrays and objects in a payload.
 * @default 64 */
export const DEFAULT_MAX_DEPTH = 64;

/** Longest string in a payload, in bytes of UTF-8.
 * @default 16 MiB */
export const DEFAULT_MAX_STRING_BYTES = 16 * 1024 * 1024;

/** Most elements in one array or entries in one object of a payload.
 * @default 1_000_000 */
export const DEFAULT_MAX_COLLECTION_LENGTH = 1_000_000;

/** Most msgpack values in one message header, all levels together (map keys count; data frames do not). A value
 * costs the decoder up to ~60 bytes of memory (an empty map is one byte on the wire and a ~56-byte object), so this
 * caps what a header makes the decoder build at about 64 MB, however large the header: without it a 16 MiB header
 * of empty maps becomes 16 M objects (about 1 GB). Tensors, typed arrays and long byte strings travel in data frames
 * and count one value each, so only payloads of large plain arrays or maps come near it.
 * @default 1_000_000 */
export const DEFAULT_MAX_VALUES = 1_000_000;

/** Byte strings at least this long travel as their own frame; shorter ones stay inline in the header.
 * @default 1024 */
export const DEFAULT_INLINE_BYTES_MAX = 1024;

/** Requests a server runs at once per client before answering further ones with a `LimitError`.
 * @default 256 */
export const DEFAULT_MAX_IN_FLIGHT_PER_CLIENT = 256;

/** Calls a client lets wait for a reply at once before rejecting new ones with a `LimitError`.
 * @default 4096 */
export const DEFAULT_MAX_PENDING_CALLS = 4096;

/**
 * Replies a ZeroMQ server queues for one client that does not read them; more are dropped (counted in
 * `stats().repliesDropped`) and the client is not served for {@link SLOW_PEER_PAUSE_MS}.
 * @default 256 */
export const DEFAULT_REPLY_HWM = 256;

/** How long a server ignores the requests of a client whose reply queue was full. @default 1000 */
export const SLOW_PEER_PAUSE_MS = 1_000;

/** Distinct clients (connections active within the last minute) a server serves at once; requests from more are
 * answered with a `LimitError`. @default 1024 */
export const DEFAULT_MAX_CLIENTS = 1024;

/**
 * Longest a server handler (inference interface, observation and action callbacks, train and request callbacks) may
 * run before its call is abandoned: its `signal` aborts, its caller gets a `TimeoutError`, its slot is freed.
 * @default 60000 */
export const DEFAULT_HANDLER_TIMEOUT_MS = 60_000;

/** Messages a subscriber queues for a slow callback before dropping the oldest.
 * @default 4 */
export const DEFAULT_SUBSCRIBER_QUEUE = 4;

/** ZeroMQ high-water mark (messages) of publishing sockets, per subscriber.
 * @default 16 */
export const DEFAULT_PUBLISH_HWM = 16;

/** Bytes of messages a publisher queues in the process while a subscriber's ZeroMQ queue is full; past it the oldest
 * queued messages are dropped (the newest is always kept). Queued messages reference the published payloads, so this
 * bounds the memory a slow subscriber can make a publisher hold.
 * @default 256 MiB */
export const DEFAULT_PUBLISH_QUEUE_BYTES = 256 * 1024 * 1024;

/** Interval of ZMTP heartbeats, in milliseconds; a peer silent for 3 intervals is considered gone.
 * @default 1000 */
export const DEFAULT_HEARTBEAT_MS = 1_000;

/** Interval of reconnect attempts of a client to a server that is down, in milliseconds.
 * @default 100 */
export const DEFAULT_RECONNECT_MS = 100;

/** Maximum interval of reconnect attempts, in milliseconds (ZeroMQ backs off up to this).
 * @default 1000 */
export const DEFAULT_RECONNECT_MAX_MS = 1_000;

// Trainer mode (src/trainer.ts, src/tables.ts, src/persist.ts).

/** Request/reply port of a trainer when its config names none (the seed's `port_number`).
 * @default 5555 */
export const DEFAULT_TRAINER_PORT = 5555;

/** Weights broadcast port of a trainer when its config names none (the seed's `broadcast_port`).
 * @default 5556 */
export const DEFAULT_TRAINER_BROADCAST_PORT = 5556;

/** `version` of a trainer config when none is given; client and server must agree on it.
 * @default '0.0.1' */
export const DEFAULT_TRAINER_CONFIG_VERSION = '0.0.1';

/** Train steps a trainer holds at once (stored and waiting for or running their train callback), over all clients;
 * more are answered with a `LimitError` and not stored.
 * @default 64 */
export const DEFAULT_MAX_PENDING_TRAIN_STEPS = 64;

/** Pending train steps one client may hold, so a flooding actor cannot take every slot from the others.
 * @default 16 */
export const DEFAULT_MAX_PENDING_TRAIN_STEPS_PER_CLIENT = 16;

/** Most bytes one trainer data table holds, measured by `payloadBytes` (tensor, typed-array and byte-string data,
 * strings, and a small constant per value and per item), besides its item bound `size`. A full FIFO table drops its
 * oldest items to make room; a non-FIFO table refuses the new item with a `LimitError`. Without it a table of 1000
 * items would hold 1000 messages of up to `maxMessageBytes` each.
 * @default 1 GiB */
export const DEFAULT_MAX_TABLE_BYTES = 1024 * 1024 * 1024;

/** Largest config, in bytes of its canonical form, that the action and trainer handshake compares; a `hello` with a
 * larger one is refused with a `LimitError` before any comparison.
 * @default 64 KiB */
export const DEFAULT_MAX_CONFIG_BYTES = 64 * 1024;

/** Weights a trainer client queues for a slow weights callback: 1 means the callback always gets the newest.
 * @default 1 */
export const DEFAULT_WEIGHTS_QUEUE = 1;

/** Largest trainer data file `makeFromFile` loads, in bytes.
 * @default 16 GiB */
export const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024 * 1024;

/** Most frames in a trainer data file.
 * @default 16_777_216 */
export const DEFAULT_MAX_FILE_FRAMES = 16 * 1024 * 1024;

/** Frames at least this long are compressed when an encoder is given `compression` (compression is off by default),
 * and kept compressed only when that makes them smaller.
 * @default 64 KiB */
export const DEFAULT_COMPRESSION_MIN_BYTES = 64 * 1024;

// WebSocket transport (src/transport/ws/).

/** Connections one WebSocket server (one listening port) serves at once; an upgrade beyond it is refused with
 * HTTP 503.
 * @default 1024 */
export const DEFAULT_WS_MAX_CLIENTS = 1024;

/** Bytes waiting to be written to one WebSocket client beyond which the server holds back: stream messages to it are
 * dropped oldest first (the latest of each topic is kept) and its requests are not read until it drains.
 * @default 16 MiB */
export const DEFAULT_WS_SEND_BUDGET_BYTES = 16 * 1024 * 1024;

/** A WebSocket client that has received nothing (data or heartbeat answers) for this many heartbeat intervals
 * counts the server as gone and reconnects. Larger than the server's 3: a browser sees a message only once all of it
 * has arrived.
 * @default 5 */
export const WS_CLIENT_SILENT_INTERVALS = 5;
/** Most pixels (width × height) of an image that edgeml decodes; the header is read and checked before any pixel
 * memory is allocated. The decoded bytes (width × height × channels) must also fit in `maxMessageBytes`.
 * @default 50_000_000 (50 MP) */
export const DEFAULT_MAX_IMAGE_PIXELS = 50_000_000;

/** Quality of lossy image encoding (JPEG, WebP) when none is given, 1..100.
 * @default 80 */
export const DEFAULT_IMAGE_QUALITY = 80;
