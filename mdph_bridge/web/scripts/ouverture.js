// « Transfert reçu » page: open the package in this browser and sign the receipt here.
// The private keys and the plaintext stay in this page; only the signed receipt is sent.
import {
  Refus,
  hex,
  identitiesFor,
  loadKeys,
  lockSecrets,
  openEnvelope,
  parseKeyFile,
  signedReceipt,
  unlockSecrets,
  verifiedManifest,
} from "./paquet.js";

// age's scrypt work factor for keys kept in the browser: about a second on an office computer.
const WORK_FACTOR = 16;
const MIN_PASSPHRASE = 12;
const TYPES = { pdf: "application/pdf", jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png",
  json: "application/json", html: "text/html" };
const REMOVED = "script, style, link, iframe, frame, object, embed, base, meta, form";

const section = document.getElementById("ouverture");
const $ = (id) => document.getElementById(id);
const storageKey = () => "mdph-bridge-cles-" + section.dataset.destination;
let opened = null;

function say(message, kind) {
  const box = $("message-ouverture");
  box.className = "fr-alert fr-alert--sm fr-mt-2w fr-alert--" + kind;
  box.replaceChildren(Object.assign(document.createElement("p"), { textContent: message }));
  box.hidden = false;
}

async function fetchOk(url, what) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) {
    throw new Refus(`La plateforme n'a pas fourni ${what} (erreur ${response.status}).`);
  }
  return response;
}

async function secretsFromFiles(files) {
  const secrets = [];
  for (const file of files) {
    const secret = parseKeyFile(await file.text());
    if (!secret) {
      throw new Refus(`Le fichier « ${file.name} » n'est pas une clé de MDPH ` +
        "(attendu : receiver.agekey, doctor.agekey ou signing.signkey).");
    }
    secrets.push(secret);
  }
  return secrets;
}

function safeReport(html) {
  // The report's own style sheet is dropped before parsing (the page's CSP would refuse it);
  // the page's styles apply instead, and no script, form or link to elsewhere is kept.
  const page = new DOMParser().parseFromString(html.replace(/<style[\s\S]*?<\/style>/gi, ""), "text/html");
  page.querySelectorAll(REMOVED).forEach((node) => node.remove());
  page.body.querySelectorAll("*").forEach((node) => {
    Array.from(node.attributes).forEach((attr) => {
      if (/^on/i.test(attr.name) || /^(href|src|action|style)$/i.test(attr.name)) {
        node.removeAttribute(attr.name);
      }
    });
  });
  return Array.from(page.body.childNodes, (node) => document.importNode(node, true));
}

function link(text, url, extra) {
  return Object.assign(document.createElement("a"), { className: "fr-link", href: url,
    textContent: text, ...extra });
}

function showFiles(tbody, files, hashes) {
  tbody.replaceChildren();
  for (const [name, bytes] of files) {
    const extension = name.split(".").pop().toLowerCase();
    const url = URL.createObjectURL(new Blob([bytes], { type: TYPES[extension] || "application/octet-stream" }));
    const row = tbody.insertRow();
    row.dataset.fichier = name;
    row.insertCell().textContent = name;
    row.insertCell().textContent = (bytes.length / 1024).toFixed(1).replace(".", ",") + " Ko";
    const hash = document.createElement("code");
    hash.className = "empreinte";
    row.insertCell().append(hash);
    const actions = row.insertCell();
    actions.append(link("Voir", url, { target: "_blank", rel: "noopener", title: `Voir ${name} (nouvel onglet)` }),
      " ", link("Enregistrer", url, { download: name.split("/").pop(), title: `Enregistrer ${name}` }));
    // Computed from the bytes shown, so what the agent reads is what was checked.
    hash.textContent = hashes.get(name);
  }
}

async function openWith(secrets) {
  const data = section.dataset;
  const keys = await loadKeys(secrets);
  const hubKeys = await (await fetchOk(data.clesPlateforme, "ses clés publiques")).json();
  const signed = await (await fetchOk(data.manifeste, "le manifeste signé")).json();
  const manifest = verifiedManifest(signed, hubKeys, data.transfert, data.destination);
  const parts = Object.fromEntries(manifest.parties.map((p) => [p.nom, p]));
  const admin = identitiesFor(keys, data.destination, "receiver", parts.dossier);
  const medical = data.paquetMedical && parts.medical
    ? identitiesFor(keys, data.destination, "doctor", parts.medical) : [];
  if (!admin.length && !medical.length) {
    throw new Refus(`Aucune des clés choisies n'ouvre ce dossier : il faut la clé de réception ` +
      `(receiver.agekey) de la MDPH ${data.destination}${data.paquetMedical ? " ou sa clé médecin (doctor.agekey)" : ""}.`);
  }
  say("Téléchargement et vérification du dossier…", "info");
  const result = { manifest, keys, hashes: new Map(), admin: null, medical: null };
  if (admin.length) {
    const envelope = new Uint8Array(await (await fetchOk(data.paquet, "le paquet")).arrayBuffer());
    result.admin = await openEnvelope(envelope, admin, parts.dossier, "dossier.json");
  }
  if (medical.length) {
    const url = data.paquetMedical;
    const envelope = new Uint8Array(await (await fetchOk(url, "le paquet médical")).arrayBuffer());
    result.medical = await openEnvelope(envelope, medical, parts.medical, "medical.json");
  }
  for (const part of [result.admin, result.medical]) {
    if (part) { part.files.forEach((bytes, name) => result.hashes.set(name, hex(bytes))); }
  }
  return result;
}

function render(result) {
  $("contenu-dossier").hidden = false;
  if (result.admin) {
    const report = result.admin.files.get("rapport_harmonisation.html");
    $("rapport").replaceChildren(...(report ? safeReport(new TextDecoder().decode(report)) : []));
    showFiles($("fichiers-dossier"), result.admin.files, result.hashes);
  }
  $("bloc-dossier").hidden = !result.admin;
  $("volet-medical").hidden = !result.medical;
  if (result.medical) { showFiles($("fichiers-medical"), result.medical.files, result.hashes); }
  const signing = Boolean(result.keys.signing);
  $("bloc-signature").hidden = !signing || section.dataset.accuse !== "oui";
  const fallback = $("accuse-agent");
  if (fallback && section.dataset.accuse === "oui") { fallback.hidden = false; }
  const parts = [result.admin && "administrative", result.medical && "médicale"].filter(Boolean);
  say(`Dossier ouvert dans ce navigateur : enveloppe ${parts.join(" et ")} vérifiée ` +
    "(manifeste signé par la plateforme, empreintes conformes).", "success");
}

async function run(getSecrets) {
  const buttons = section.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    opened = await openWith(await getSecrets());
    render(opened);
  } catch (error) {
    opened = null;
    $("contenu-dossier").hidden = true;
    say(error instanceof Refus ? error.message
      : "Le dossier n'a pas pu être ouvert (erreur inattendue du navigateur).", "error");
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

async function fromChosenFiles() {
  const files = $("fichiers-cles").files;
  if (!files.length) {
    throw new Refus("Choisissez d'abord le ou les fichiers de clés de votre MDPH.");
  }
  const secrets = await secretsFromFiles(files);
  if ($("garder-cles").checked) {
    const passphrase = $("phrase-nouvelle").value;
    if (passphrase.length < MIN_PASSPHRASE) {
      throw new Refus(`Pour garder les clés dans ce navigateur, choisissez une phrase de passe ` +
        `d'au moins ${MIN_PASSPHRASE} caractères.`);
    }
    localStorage.setItem(storageKey(), await lockSecrets(secrets, passphrase, WORK_FACTOR));
    $("phrase-nouvelle").value = "";
    showStored();
  }
  return secrets;
}

async function fromStored() {
  const stored = localStorage.getItem(storageKey());
  const secrets = await unlockSecrets(stored, $("phrase-gardee").value);
  $("phrase-gardee").value = "";
  return secrets;
}

function showStored() {
  $("cles-gardees").hidden = !localStorage.getItem(storageKey());
}

async function sign() {
  const button = $("bouton-signer");
  button.disabled = true;
  try {
    const body = signedReceipt(opened.keys, opened.manifest, new Date());
    const response = await fetch(section.dataset.recu, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": section.dataset.csrf },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (response.ok && answer.adresse) {
      window.location.assign(answer.adresse);
      return;
    }
    const problems = (answer.erreurs || []).map((e) => e.message).join(" ");
    say("L'accusé de réception signé a été refusé par la plateforme" +
      (problems ? " : " + problems : ` (erreur ${response.status}).`), "error");
  } catch {
    say("L'accusé de réception n'a pas pu être envoyé (connexion perdue ?) : réessayez.", "error");
  } finally {
    button.disabled = false;
  }
}

if (section) {
  section.hidden = false;
  if (!window.isSecureContext) {
    say("L'ouverture dans le navigateur demande une connexion sécurisée (https).", "error");
  }
  showStored();
  $("garder-cles").addEventListener("change", (event) => {
    $("groupe-phrase-nouvelle").hidden = !event.target.checked;
  });
  $("bouton-ouvrir").addEventListener("click", () => run(fromChosenFiles));
  $("bouton-ouvrir-gardees").addEventListener("click", () => run(fromStored));
  $("bouton-oublier").addEventListener("click", () => {
    localStorage.removeItem(storageKey());
    showStored();
    say("Les clés gardées dans ce navigateur ont été effacées.", "info");
  });
  $("bouton-signer").addEventListener("click", sign);
}
