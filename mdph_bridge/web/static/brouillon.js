/* The dossier form, progressively enhanced: each field is checked as it is left (which also saves
   the draft), the parts that do not fit a choice (a right's type, the place of life) are hidden,
   and the documents' files are sent with a progress bar. Without this script the form works as
   plain HTML, step by step, every part shown. */
(function () {
  "use strict";

  var KINDS = ["fr-input", "fr-select", "fr-checkbox", "fr-upload"];

  function kindOf(group) {
    return KINDS.filter(function (kind) { return group.classList.contains(kind + "-group"); })[0];
  }

  function showErrors(group, messages) {
    var kind = kindOf(group);
    var control = group.querySelector("input, select");
    var box = group.querySelector(".fr-messages-group");
    box.textContent = "";
    messages.forEach(function (text) {
      var line = document.createElement("p");
      line.className = "fr-message fr-message--error";
      line.textContent = text;
      box.appendChild(line);
    });
    group.classList.toggle(kind + "-group--error", messages.length > 0);
    if (kind === "fr-input" || kind === "fr-select") {
      control.classList.toggle(kind + "--error", messages.length > 0);
    }
  }

  function formBody(form) {
    var body = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (element) {
      if (!element.name || element.disabled) { return; }
      if (element.type === "file" || element.type === "submit") { return; }
      if (element.type === "checkbox" && !element.checked) { return; }
      body.append(element.name, element.value);
    });
    return body;
  }

  function savedAt(iso) {
    return new Date(iso).toLocaleTimeString("fr-FR", { hour: "2-digit", minute: "2-digit" });
  }

  function checkAsLeft(form) {
    var status = document.getElementById("etat-enregistrement");
    var touched = {};
    var queue = Promise.resolve();

    function check() {
      return fetch(form.getAttribute("data-verification"), {
        method: "POST",
        body: formBody(form),
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      }).then(function (answer) {
        if (answer.perime) { return; }  // sent before an item was added or removed: ignored
        var byField = {};
        answer.erreurs.forEach(function (problem) {
          (byField[problem.champ] = byField[problem.champ] || []).push(problem.message);
        });
        Array.prototype.forEach.call(form.querySelectorAll("[data-champ]"), function (group) {
          var control = group.querySelector("input, select");
          if (touched[control.id]) { showErrors(group, byField[control.id] || []); }
        });
        status.textContent = "Brouillon enregistré à " + savedAt(answer.enregistre_a) + ".";
      }).catch(function () {
        status.textContent = "Enregistrement automatique impossible pour le moment : " +
          "utilisez « Enregistrer le brouillon ».";
      });
    }

    form.addEventListener("focusout", function (event) {
      var element = event.target;
      if (!element.closest("[data-champ]") || element.type === "file") { return; }
      touched[element.id] = true;
      queue = queue.then(check);
    });
  }

  // A part marked data-selon="<id of a field>" data-valeurs="a b" fits only those values of that
  // field (or while it is empty). Hidden parts are disabled, so that they are not sent.
  function followChoices(form) {
    var parts = form.querySelectorAll("[data-selon]");
    function apply() {
      Array.prototype.forEach.call(parts, function (part) {  // document order: outer parts first
        var control = document.getElementById(part.getAttribute("data-selon"));
        var values = part.getAttribute("data-valeurs").split(" ");
        var fits = !control || !control.value || values.indexOf(control.value) >= 0;
        var outer = part.parentElement.closest("[data-selon]");
        var shown = fits && !(outer && outer.hidden);
        part.hidden = !shown;
        Array.prototype.forEach.call(
          part.querySelectorAll("input, select, textarea, button"),
          function (element) { element.disabled = !shown; }
        );
      });
    }
    form.addEventListener("change", apply);
    apply();
  }

  function replaceMain(html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var main = page.querySelector("main");
    if (main) { document.querySelector("main").replaceWith(document.importNode(main, true)); }
    document.title = page.title;
    enhance();
    var summary = document.getElementById("resume-erreurs");
    (summary && summary.children.length ? summary : document.querySelector("main")).focus();
  }

  function sendWithProgress(form) {
    var box = form.querySelector("[data-progression]");
    var bar = box.querySelector("progress");
    var text = box.querySelector("[data-progression-texte]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(form);
      var button = event.submitter;
      if (button && button.name) { data.set(button.name, button.value); }
      var request = new XMLHttpRequest();
      // Not `form.action`: the buttons named "action" shadow that property.
      request.open("POST", form.getAttribute("action"));
      request.setRequestHeader("X-Televersement", "1");
      request.upload.addEventListener("progress", function (progress) {
        if (!progress.lengthComputable) { return; }
        bar.value = Math.round(progress.loaded * 100 / progress.total);
        text.textContent = bar.value + " % envoyés";
      });
      request.upload.addEventListener("load", function () {
        bar.value = 100;
        text.textContent = "Fichiers reçus : vérification en cours…";
      });
      request.addEventListener("load", function () {
        var location = request.getResponseHeader("Location");
        if (request.status === 201 && location) {
          var same = new URL(location, window.location.href).pathname === window.location.pathname;
          window.location.assign(location);
          if (same) { window.location.reload(); }  // only the anchor changed: load the page again
          return;
        }
        replaceMain(request.responseText);
      });
      request.addEventListener("error", function () {
        text.textContent = "L'envoi a été interrompu (connexion perdue ?) : réessayez.";
      });
      box.hidden = false;
      bar.value = 0;
      text.textContent = "Envoi en cours…";
      request.send(data);
    });
  }

  function enhance() {
    var form = document.getElementById("formulaire-brouillon");
    if (!form || !window.fetch || !window.URLSearchParams) { return; }
    followChoices(form);
    checkAsLeft(form);
    if (form.hasAttribute("data-televersement-brouillon") && window.FormData) {
      sendWithProgress(form);
    }
  }

  enhance();
}());
