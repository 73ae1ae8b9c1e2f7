/* Upload forms, progressively enhanced: drag and drop, a progress bar, and errors shown in place
   so that the chosen files stay selected. Without this script the forms work as plain HTML. */
(function () {
  "use strict";

  function megabytes(bytes) {
    return (bytes / 1048576).toFixed(1).replace(".", ",");
  }

  function setFiles(input, files, keep) {
    var transfer = new DataTransfer();
    if (keep) {
      Array.prototype.forEach.call(input.files, function (file) { transfer.items.add(file); });
    }
    files.forEach(function (file) { transfer.items.add(file); });
    input.files = transfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function enableDrop(form) {
    var zone = form.querySelector("[data-zone-depot]");
    var dossier = form.querySelector("input[name=dossier]");
    var pieces = form.querySelector("input[name=pieces]");
    if (!zone || !dossier || !pieces || !window.DataTransfer) { return; }
    var message = zone.querySelector("p");
    var status = document.createElement("p");
    status.setAttribute("aria-live", "polite");
    status.className = "fr-hint-text";
    zone.appendChild(status);
    zone.hidden = false;
    form.addEventListener("dragover", function (event) {
      event.preventDefault();
      zone.classList.add("survol");
    });
    form.addEventListener("dragleave", function (event) {
      if (!form.contains(event.relatedTarget)) { zone.classList.remove("survol"); }
    });
    form.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("survol");
      var json = [];
      var others = [];
      Array.prototype.forEach.call(event.dataTransfer.files, function (file) {
        (/\.json$/i.test(file.name) ? json : others).push(file);
      });
      if (json.length) { setFiles(dossier, json.slice(0, 1), false); }
      others = others.concat(json.slice(1));
      if (others.length) { setFiles(pieces, others, true); }
      var names = json.slice(0, 1).concat(others).map(function (f) { return f.name; });
      status.textContent = names.length + " fichier(s) ajouté(s) : " + names.join(", ");
      message.hidden = false;
    });
  }

  function showAnswer(form, html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var summary = page.getElementById("resume-erreurs");
    if (!summary || !form.id) {
      // Not the form again (session ended, page gone…): show the page's message instead.
      var main = page.querySelector("main");
      if (main) { document.querySelector("main").replaceWith(document.importNode(main, true)); }
      document.title = page.title;
      document.querySelector("main").focus();
      return;
    }
    var fresh = page.getElementById(form.id);
    ["resume-erreurs", "erreurs-dossier", "erreurs-pieces"].forEach(function (id) {
      var current = document.getElementById(id);
      var replacement = page.getElementById(id);
      if (current && replacement) { current.replaceWith(document.importNode(replacement, true)); }
    });
    ["groupe-dossier", "groupe-pieces"].forEach(function (id) {
      var current = form.querySelector("#" + id);
      var replacement = fresh && fresh.querySelector("#" + id);
      if (current && replacement) { current.className = replacement.className; }
    });
    var key = fresh && fresh.querySelector("input[name=cle_envoi]");
    if (key) { form.querySelector("input[name=cle_envoi]").value = key.value; }
    document.title = page.title;
    document.getElementById("resume-erreurs").focus();
  }

  function send(form) {
    var box = form.querySelector("[data-progression]");
    var bar = box.querySelector("progress");
    var text = box.querySelector("[data-progression-texte]");
    var button = form.querySelector("button[type=submit]");
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-Televersement", "1");
    request.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) { return; }
      var percent = Math.round(event.loaded * 100 / event.total);
      bar.value = percent;
      text.textContent = percent + " % envoyés (" + megabytes(event.loaded) + " Mo sur " +
        megabytes(event.total) + " Mo)";
    });
    request.upload.addEventListener("load", function () {
      bar.value = 100;
      text.textContent = "Fichiers reçus : vérification en cours…";
    });
    request.addEventListener("load", function () {
      var location = request.getResponseHeader("Location");
      if (request.status === 201 && location) {
        window.location.assign(location);
        return;
      }
      box.hidden = true;
      button.disabled = false;
      showAnswer(form, request.responseText);
    });
    request.addEventListener("error", function () {
      button.disabled = false;
      text.textContent = "L'envoi a été interrompu (connexion perdue ?) : réessayez.";
    });
    box.hidden = false;
    bar.value = 0;
    text.textContent = "Envoi en cours…";
    button.disabled = true;
    request.send(new FormData(form));
  }

  function enhance(form, index) {
    if (!form.id) { form.id = "televersement-" + index; }
    enableDrop(form);
    if (!window.FormData || !window.XMLHttpRequest) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send(form);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-televersement]"), enhance);
}());
