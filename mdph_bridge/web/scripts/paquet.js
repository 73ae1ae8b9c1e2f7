// Opening a received package in the browser, with the same checks as the receiving client:
// signed manifest, envelope hashes, age decryption, plaintext hashes, safe tar reading, and
// each document against the SHA-256 the sending MDPH declared. No DOM here, no network.
import { Decrypter, Encrypter, identityToRecipient } from "age-encryption";
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

export const ALGORITHM = "Ed25519";
const SIGNING_PREFIX = "MDPH-ED25519-SECRET-";
const AGE_PREFIX = "AGE-SECRET-KEY-1";
const LABELS = { dossier: "administrative", medical: "médicale" };
// Names the receiving client adds beside the content; an envelope may not bring them.
const RESERVED = ["manifeste.json", "medical"];
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A refusal to show the person, in French, that never quotes file names or content. */
export class Refus extends Error {}

/** Name an envelope for the person: « administrative » or « médicale ». */
export function label(part) {
  return LABELS[part.nom] || part.nom;
}

/** Serialise like Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False). */
export function canonicalJson(value) {
  if (Array.isArray(value)) {
    return "[" + value.map(canonicalJson).join(",") + "]";
  }
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJson(value[k])).join(",") + "}";
  }
  return JSON.stringify(value);
}

/** SHA-256 (hex) of the canonical JSON of a value: what a receipt refers to. */
export function digest(value) {
  return hex(encoder.encode(canonicalJson(value)));
}

/** Hex SHA-256 of bytes. */
export function hex(bytes) {
  return bytesToHex(sha256(bytes));
}

/** The short key id the hub registers for a public key (same as domain/keyids.py). */
export function keyId(departement, usage, publicKey) {
  return `${departement}-${usage}-${hex(encoder.encode(publicKey)).slice(0, 16)}`;
}

function fromBase64(text, size) {
  let raw;
  try {
    raw = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
  return raw.length === size ? raw : null;
}

function toBase64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

/** Read a key file as `mdph-bridge keys generate` writes it: comments, then one secret line. */
export function parseKeyFile(text) {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  if (lines.length !== 1) { return null; }
  const secret = lines[0];
  if (secret.startsWith(AGE_PREFIX)) { return { type: "age", secret }; }
  if (secret.startsWith(SIGNING_PREFIX) && fromBase64(secret.slice(SIGNING_PREFIX.length), 32)) {
    return { type: "signing", secret };
  }
  return null;
}

/** The département's keys: age identities (with their recipients) and one signing key. */
export async function loadKeys(secrets) {
  const keys = { identities: [], signing: null };
  for (const secret of secrets) {
    if (secret.type === "age") {
      let recipient;
      try {
        recipient = await identityToRecipient(secret.secret);
      } catch {
        throw new Refus("Une clé de déchiffrement choisie est illisible (fichier abîmé ?).");
      }
      keys.identities.push({ identity: secret.secret, recipient });
    } else if (keys.signing) {
      throw new Refus("Choisissez une seule clé de signature des accusés de réception.");
    } else {
      const seed = fromBase64(secret.secret.slice(SIGNING_PREFIX.length), 32);
      keys.signing = { secret: secret.secret, seed, public: toBase64(ed25519.getPublicKey(seed)) };
    }
  }
  return keys;
}

/** The identities whose key id is among the ones the envelope was encrypted to. */
export function identitiesFor(keys, destination, usage, part) {
  return keys.identities.filter((k) => part.cles.includes(keyId(destination, usage, k.recipient)));
}

/** Return the manifest body once the hub's signature checks and it is about this transfer. */
export function verifiedManifest(signed, hubKeys, transferId, destination) {
  const keys = {};
  for (const key of hubKeys.cles || []) {
    if (key.algorithme === ALGORITHM) { keys[key.id] = key.cle_publique; }
  }
  const body = signed.manifeste;
  const signature = signed.signature || {};
  const publicKey = fromBase64(keys[signature.cle] || "", 32);
  const value = fromBase64(String(signature.valeur || ""), 64);
  let valid = false;
  if (signature.algorithme === ALGORITHM && publicKey && value) {
    try {
      valid = ed25519.verify(value, encoder.encode(canonicalJson(body)), publicKey);
    } catch {
      valid = false;
    }
  }
  if (!valid) {
    throw new Refus(
      "La signature du manifeste ne correspond à aucune clé de la plateforme : dossier refusé.");
  }
  if (body.transfert !== transferId || body.mdph_destination !== destination) {
    throw new Refus("Le manifeste signé porte sur un autre transfert : dossier refusé.");
  }
  return body;
}

function text(bytes, start, length) {
  const field = bytes.subarray(start, start + length);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

function octal(bytes, start, length) {
  const value = text(bytes, start, length).trim();
  if (!/^[0-7]+$/.test(value)) { throw new Error("bad octal field"); }
  return parseInt(value, 8);
}

function paxRecords(bytes) {
  const records = {};
  let at = 0;
  while (at < bytes.length) {
    const space = bytes.indexOf(0x20, at);
    const length = parseInt(decoder.decode(bytes.subarray(at, space)), 10);
    if (space < 0 || !(length > 0)) { throw new Error("bad pax record"); }
    const record = decoder.decode(bytes.subarray(space + 1, at + length - 1));
    const equals = record.indexOf("=");
    records[record.slice(0, equals)] = record.slice(equals + 1);
    at += length;
  }
  return records;
}

/** Read a ustar/pax archive into {name: bytes}; only regular files and folders are allowed. */
export function readTar(bytes) {
  const files = new Map();
  let at = 0;
  let pax = {};
  while (at + 512 <= bytes.length) {
    const header = bytes.subarray(at, at + 512);
    if (header.every((b) => b === 0)) { return files; }
    let checksum = 0;
    header.forEach((b, i) => { checksum += i >= 148 && i < 156 ? 32 : b; });
    if (checksum !== octal(header, 148, 8)) { throw new Error("bad header checksum"); }
    const type = String.fromCharCode(header[156] || 48);
    const prefix = text(header, 345, 155);
    let name = (prefix ? prefix + "/" : "") + text(header, 0, 100);
    let size = octal(header, 124, 12);
    if (pax.path !== undefined) { name = pax.path; }
    if (pax.size !== undefined) { size = parseInt(pax.size, 10); }
    const start = at + 512;
    const data = bytes.subarray(start, start + size);
    if (data.length !== size) { throw new Error("truncated member"); }
    at = start + Math.ceil(size / 512) * 512;
    if (type === "x") { pax = paxRecords(data); continue; }
    pax = {};
    if (type === "g" || type === "5") { continue; }
    const parts = name.split("/");
    if (type !== "0" || name.startsWith("/") || parts.some((p) => p === ".." || p === "")) {
      throw new Error("refused member");
    }
    if (RESERVED.includes(parts[0])) { throw new Refus("reserved"); }
    files.set(name, data);
  }
  throw new Error("archive without its end marker");
}

async function decrypt(envelope, identities, what) {
  const decrypter = new Decrypter();
  identities.forEach((k) => decrypter.addIdentity(k.identity));
  try {
    return await decrypter.decrypt(envelope);
  } catch {
    throw new Refus(`${what} ne se déchiffre pas : altérée, tronquée ou clé inadaptée.`);
  }
}

function checkDocuments(files, required, what) {
  let pieces;
  try {
    pieces = JSON.parse(decoder.decode(files.get(required))).pieces;
    pieces.forEach((piece) => {
      if (!files.has(piece.fichier)) { throw new Error("missing document"); }
    });
  } catch {
    throw new Refus(`${what} décrit mal ses pièces : dossier refusé.`);
  }
  pieces.forEach((piece, index) => {
    if (hex(files.get(piece.fichier)) !== piece.sha256) {
      throw new Refus(`La pièce n°${index + 1} de ${what} ne correspond pas à l'empreinte ` +
        "déclarée par la MDPH d'origine : dossier refusé.");
    }
  });
  return pieces;
}

/** Check a downloaded envelope against the signed manifest, decrypt and unpack it. */
export async function openEnvelope(envelope, identities, part, required) {
  const what = `l'enveloppe ${label(part)}`;
  if (envelope.length !== part.taille_chiffree) {
    throw new Refus(`${cap(what)} n'a pas la taille annoncée par le manifeste signé ` +
      "(tronquée ou altérée) : dossier refusé.");
  }
  if (hex(envelope) !== part.sha256_chiffre) {
    throw new Refus(`L'empreinte SHA-256 de ${what} diffère du manifeste signé ` +
      "(enveloppe altérée) : dossier refusé.");
  }
  const plain = await decrypt(envelope, identities, cap(what));
  if (plain.length !== part.taille_claire || hex(plain) !== part.sha256_clair) {
    throw new Refus(`Le contenu déchiffré de ${what} diffère du manifeste signé : dossier refusé.`);
  }
  let files;
  try {
    files = readTar(plain);
  } catch (error) {
    const reason = error instanceof Refus ? "contient un nom réservé" : "contient une archive illisible ou refusée";
    throw new Refus(`${cap(what)} ${reason} : dossier refusé.`);
  }
  if (!files.has(required)) {
    throw new Refus(`${cap(what)} ne contient pas ${required} : dossier refusé.`);
  }
  return { files, pieces: checkDocuments(files, required, what) };
}

function cap(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Sign the receipt the receiving client signs: which transfer, which manifest, when. */
export function signedReceipt(keys, manifest, now) {
  const recu = {
    transfert: manifest.transfert,
    sha256_manifeste: digest(manifest),
    // Python's isoformat() of an aware UTC datetime, which the hub parses back.
    date: now.toISOString().replace("Z", "+00:00"),
  };
  const signature = ed25519.sign(encoder.encode(canonicalJson(recu)), keys.signing.seed);
  return {
    recu,
    cle: keyId(manifest.mdph_destination, "signing", keys.signing.public),
    signature: toBase64(signature),
  };
}

/** Encrypt the key files' secrets under a passphrase (age scrypt), to keep in the browser. */
export async function lockSecrets(secrets, passphrase, workFactor) {
  const encrypter = new Encrypter();
  encrypter.setPassphrase(passphrase);
  encrypter.setScryptWorkFactor(workFactor);
  return toBase64(await encrypter.encrypt(JSON.stringify(secrets)));
}

/** Open secrets kept by lockSecrets; a wrong passphrase gives a French refusal. */
export async function unlockSecrets(stored, passphrase) {
  const decrypter = new Decrypter();
  decrypter.addPassphrase(passphrase);
  try {
    const raw = Uint8Array.from(atob(stored), (c) => c.charCodeAt(0));
    return JSON.parse(await decrypter.decrypt(raw, "text"));
  } catch {
    throw new Refus("Phrase de passe incorrecte : les clés gardées dans ce navigateur restent fermées.");
  }
}
