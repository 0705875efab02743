/**
 * CURVE security: key pairs, key files, and the resolution of the `security` options every server and client takes.
 * The ZAP handler that lets a server accept only listed client keys is in `zap-handler.ts`. docs/security.md explains
 * when and how to use them.
 *
 * Keys are 40-character Z85 strings (the ZeroMQ convention). A key file is text in the ZeroMQ certificate style:
 *
 * ```
 * # edgeml CURVE key pair
 * metadata
 * curve
 *     public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
 *     secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
 * ```
 *
 * `NAME.key` holds the public key only and can be shared; `NAME.key_secret` holds both and is written with mode 0600.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { EdgeMLError, InvalidArgumentError } from '../core/errors.js';

/** A CURVE key pair as Z85 strings. */
export interface KeyPair {
  /** 40-character Z85 public key. */
  publicKey: string;
  /** 40-character Z85 secret key. */
  secretKey: string;
}

/**
 * Where a key comes from, said explicitly: `{ file: path }` (a key file written by `edgeml keygen`) or
 * `{ z85: key }` (a 40-character Z85 key inline). A plain string is always the path of a key file, never guessed to
 * be a key from its length.
 */
export type KeySource = string | { readonly file: string } | { readonly z85: string };

/** A public key: a {@link KeySource}, or an object holding it (a {@link KeyPair}, for example). */
export type PublicKeySource = KeySource | { readonly publicKey: string };

/** Security options of a server: its key pair and, optionally, the only client keys it accepts. */
export interface ServerSecurity {
  /** The server's key pair, or its `.key_secret` file (a path, or `{ file }`). */
  keyPair: KeyPair | string | { readonly file: string };
  /**
   * Public keys (inline, key files or key objects) of the clients allowed in. When omitted, any client that knows
   * the server's public key may connect; an empty list lets no client in.
   */
  allowedClients?: readonly PublicKeySource[];
}

/** Security options of a client: the server's public key and, optionally, the client's own key pair. */
export interface ClientSecurity {
  /** The server's public key, or the path of its `.key` (or `.key_secret`) file. */
  serverPublicKey: PublicKeySource;
  /** The client's key pair or `.key_secret` file (a path, or `{ file }`); when omitted, a fresh pair is generated
   * (fine when the server accepts any client). */
  keyPair?: KeyPair | string | { readonly file: string };
}

/** Server security with every key resolved (internal). */
export interface ResolvedServerSecurity {
  keyPair: KeyPair;
  /** Absent: any client; otherwise the only client public keys accepted. */
  allowedClients?: readonly string[];
}

/** Client security with every key resolved (internal). */
export interface ResolvedClientSecurity {
  serverPublicKey: string;
  keyPair: KeyPair;
}

const Z85_CHARS = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const Z85_INDEX = new Map([...Z85_CHARS].map((c, i) => [c, i]));

/** True for a 40-character Z85 string (a CURVE key). */
export function isZ85Key(value: unknown): value is string {
  return typeof value === 'string' && value.length === 40 && [...value].every((c) => Z85_INDEX.has(c));
}

/** Decodes a Z85 string (length a multiple of 5) to bytes. */
export function z85Decode(text: string): Uint8Array {
  if (text.length % 5 !== 0) throw new InvalidArgumentError('key', 'Z85 text length must be a multiple of 5');
  const out = new Uint8Array((text.length / 5) * 4);
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let v = 0;
    for (let j = 0; j < 5; j++) {
      const d = Z85_INDEX.get(text[i + j]!);
      if (d === undefined)
        throw new InvalidArgumentError('key', `invalid Z85 character ${JSON.stringify(text[i + j])}`);
      v = v * 85 + d;
    }
    if (v > 0xffffffff) throw new InvalidArgumentError('key', 'invalid Z85 group');
    out[o] = v >>> 24;
    out[o + 1] = (v >>> 16) & 0xff;
    out[o + 2] = (v >>> 8) & 0xff;
    out[o + 3] = v & 0xff;
  }
  return out;
}

/** Encodes bytes (length a multiple of 4) as Z85. */
export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new InvalidArgumentError('key', 'Z85 input length must be a multiple of 4');
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let v = ((bytes[i]! << 24) >>> 0) + (bytes[i + 1]! << 16) + (bytes[i + 2]! << 8) + bytes[i + 3]!;
    const chunk: string[] = [];
    for (let j = 0; j < 5; j++) {
      chunk.unshift(Z85_CHARS[v % 85]!);
      v = Math.floor(v / 85);
    }
    out += chunk.join('');
  }
  return out;
}

/** Generates a new CURVE key pair (X25519, with `node:crypto`: no native addon is loaded). */
export function generateKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const pub = publicKey.export({ format: 'der', type: 'spki' });
  const sec = privateKey.export({ format: 'der', type: 'pkcs8' });
  return {
    publicKey: z85Encode(new Uint8Array(pub.subarray(pub.length - 32))),
    secretKey: z85Encode(new Uint8Array(sec.subarray(sec.length - 32))),
  };
}

/** PKCS#8 prefix of a raw X25519 private key (CURVE keys are Curve25519 keys). */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/**
 * The public key that belongs to a secret key (both Z85).
 * @throws {@link InvalidArgumentError} when `secretKey` is not a 40-character Z85 key
 */
export function publicKeyOf(secretKey: string, field = 'secretKey'): string {
  if (!isZ85Key(secretKey)) throw new InvalidArgumentError(field, 'must be a 40-character Z85 key');
  const der = Buffer.concat([X25519_PKCS8_PREFIX, z85Decode(secretKey)]);
  const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({
    format: 'der',
    type: 'spki',
  });
  return z85Encode(new Uint8Array(spki.subarray(spki.length - 32)));
}

function keyFileText(pair: { publicKey: string; secretKey?: string }, title: string): string {
  const lines = [`# ${title}`, '# Generated by edgeml keygen. ZeroMQ certificate format.', 'metadata', 'curve'];
  lines.push(`    public-key = "${pair.publicKey}"`);
  if (pair.secretKey !== undefined) lines.push(`    secret-key = "${pair.secretKey}"`);
  return `${lines.join('\n')}\n`;
}

/** Options of {@link writeKeyFiles}. */
export interface WriteKeyFilesOptions {
  /** Replace existing files (by default an existing file is an error, so a key in use is never lost). */
  overwrite?: boolean;
}

/**
 * Writes `base.key` (public key, shareable) and `base.key_secret` (both keys, mode 0600) and returns the pair.
 * @param pair defaults to a newly generated pair
 * @throws {@link EdgeMLError} when a file exists (without `overwrite`) or cannot be written
 */
export async function writeKeyFiles(
  base: string,
  pair: KeyPair = generateKeyPair(),
  options: WriteKeyFilesOptions = {},
): Promise<KeyPair> {
  const checked = checkPair(pair, 'pair');
  const flag = options.overwrite ? 'w' : 'wx';
  const files: [string, string, number][] = [
    [`${base}.key_secret`, keyFileText(checked, 'edgeml CURVE key pair (keep secret)'), 0o600],
    [`${base}.key`, keyFileText({ publicKey: checked.publicKey }, 'edgeml CURVE public key'), 0o644],
  ];
  if (!options.overwrite) {
    for (const [path] of files) {
      if (existsSync(path)) throw new EdgeMLError(`${path} exists; not overwriting a key file`);
    }
  }
  for (const [path, text, mode] of files) {
    try {
      await writeFile(path, text, { mode, flag });
      await chmod(path, mode);
    } catch (e) {
      throw new EdgeMLError(`cannot write key file ${path}: ${(e as Error).message}`, 'EDGEML_ERROR', { cause: e });
    }
  }
  return checked;
}

/** Reads the keys out of key file text; `field` names the option in errors. */
function parseKeyFile(text: string, path: string, field: string): { publicKey: string; secretKey?: string } {
  const find = (name: string): string | undefined => {
    const m = new RegExp(`^\\s*${name}\\s*=\\s*"([^"]{40})"\\s*$`, 'm').exec(text);
    return m?.[1];
  };
  const publicKey = find('public-key');
  const secretKey = find('secret-key');
  if (!isZ85Key(publicKey)) throw new InvalidArgumentError(field, `${path} has no valid public-key`);
  if (secretKey === undefined) return { publicKey };
  if (!isZ85Key(secretKey)) throw new InvalidArgumentError(field, `${path} has an invalid secret-key`);
  if (publicKeyOf(secretKey, field) !== publicKey) {
    throw new InvalidArgumentError(field, `${path}: its public-key does not belong to its secret-key`);
  }
  return { publicKey, secretKey };
}

/**
 * Reads a key file; `secretKey` is present for `.key_secret` files.
 * @throws {@link EdgeMLError} when the file cannot be read, {@link InvalidArgumentError} when it holds no valid key
 */
export async function readKeyFile(path: string): Promise<{ publicKey: string; secretKey?: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new EdgeMLError(`cannot read key file ${path}: ${(e as Error).message}`, 'EDGEML_ERROR', { cause: e });
  }
  return parseKeyFile(text, path, 'keyFile');
}

/**
 * Reads a key file synchronously (for constructors: servers and clients resolve their keys when they are created).
 * @throws {@link InvalidArgumentError} naming `field` when the file cannot be read or holds no valid key
 */
export function readKeyFileSync(path: string, field = 'keyFile'): { publicKey: string; secretKey?: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(field, `cannot read key file ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseKeyFile(text, path, field);
}

function checkPair(pair: KeyPair, field: string): KeyPair {
  if (!isZ85Key(pair.publicKey) || !isZ85Key(pair.secretKey)) {
    throw new InvalidArgumentError(field, 'publicKey and secretKey must be 40-character Z85 keys');
  }
  if (publicKeyOf(pair.secretKey, field) !== pair.publicKey) {
    throw new InvalidArgumentError(field, 'publicKey does not belong to secretKey');
  }
  return { publicKey: pair.publicKey, secretKey: pair.secretKey };
}

function fileOf(source: unknown): string | undefined {
  if (typeof source === 'string') return source.length > 0 ? source : undefined;
  if (typeof source === 'object' && source !== null && 'file' in source) {
    const file = (source as { file: unknown }).file;
    return typeof file === 'string' && file.length > 0 ? file : undefined;
  }
  return undefined;
}

/**
 * Resolves a public key given as a key file (a path or `{ file }`), inline (`{ z85 }`) or as an object holding it
 * (key files are read with `readFileSync`).
 * @throws {@link InvalidArgumentError} naming `field`
 */
export function resolvePublicKeySync(source: PublicKeySource, field = 'publicKey'): string {
  const file = fileOf(source);
  if (file !== undefined) return readKeyFileSync(file, field).publicKey;
  if (typeof source === 'object' && source !== null) {
    if ('z85' in source) {
      if (isZ85Key(source.z85)) return source.z85;
      throw new InvalidArgumentError(field, '{ z85 } must hold a 40-character Z85 key');
    }
    if ('publicKey' in source && isZ85Key(source.publicKey)) return source.publicKey;
  }
  throw new InvalidArgumentError(field, 'must be a key file path, { file }, { z85 } or { publicKey }');
}

/**
 * Resolves a key pair given as an object or as a `.key_secret` file (a path or `{ file }`); checks that the public
 * key belongs to the secret key.
 * @throws {@link InvalidArgumentError} naming `field`
 */
export function resolveKeyPairSync(source: KeyPair | string | { readonly file: string }, field = 'keyPair'): KeyPair {
  const file = fileOf(source);
  if (file === undefined) {
    if (typeof source === 'object' && source !== null && 'secretKey' in source) return checkPair(source, field);
    throw new InvalidArgumentError(field, 'must be a key pair, or a .key_secret file (a path or { file })');
  }
  const read = readKeyFileSync(file, field);
  if (read.secretKey === undefined) {
    throw new InvalidArgumentError(field, `${file} holds no secret key (give the .key_secret file)`);
  }
  return { publicKey: read.publicKey, secretKey: read.secretKey };
}

/**
 * Resolves a server's security options.
 * @throws {@link InvalidArgumentError} naming the field (`security.keyPair`, `security.allowedClients[2]`, ...)
 */
export function resolveServerSecurity(security: ServerSecurity, field = 'security'): ResolvedServerSecurity {
  if (typeof security !== 'object' || security === null) {
    throw new InvalidArgumentError(field, 'must be { keyPair, allowedClients? }');
  }
  const keyPair = resolveKeyPairSync(security.keyPair, `${field}.keyPair`);
  const list = security.allowedClients;
  if (list === undefined) return { keyPair };
  if (!Array.isArray(list)) throw new InvalidArgumentError(`${field}.allowedClients`, 'must be an array of keys');
  const allowedClients = list.map((k: PublicKeySource, i) => resolvePublicKeySync(k, `${field}.allowedClients[${i}]`));
  return { keyPair, allowedClients };
}

/**
 * Resolves a client's security options; generates the client's key pair when none is given.
 * @throws {@link InvalidArgumentError} naming the field (`security.serverPublicKey`, `security.keyPair`)
 */
export function resolveClientSecurity(security: ClientSecurity, field = 'security'): ResolvedClientSecurity {
  if (typeof security !== 'object' || security === null) {
    throw new InvalidArgumentError(field, 'must be { serverPublicKey, keyPair? }');
  }
  const serverPublicKey = resolvePublicKeySync(security.serverPublicKey, `${field}.serverPublicKey`);
  const keyPair =
    security.keyPair === undefined ? generateKeyPair() : resolveKeyPairSync(security.keyPair, `${field}.keyPair`);
  return { serverPublicKey, keyPair };
}
