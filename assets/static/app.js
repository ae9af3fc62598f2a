// Progressive enhancement for Stratus pages: everything works without this file.
// - Fills the teaching panel's timings from the Server-Timing header.
// - Relative times (<time class="ago">) say how long ago in the reader's language, counted
//   now, with the reader's local time on hover. The page already says it in English, in the same
//   words, so in an English browser nothing changes and nothing moves. Exact times (the traffic
//   page's windows) stay exact.
// - A link with data-dialog="ID" opens that <dialog> instead (delete asks first, in place).
// - Upload: several files, drag and drop, a client-side check mirroring the server's limits,
//   a progress bar per file, and the server's error next to the file, in words.
"use strict";

(function () {
  const ACCEPTED = ["image/jpeg", "image/png", "image/gif", "image/webp"];
  const EXTENSIONS = /\.(jpe?g|png|gif|webp)$/i;

  function showTimings() {
    const target = document.getElementById("timings");
    const nav = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
    if (!target || !nav || !nav.serverTiming || nav.serverTiming.length === 0) return;
    target.textContent = nav.serverTiming
      .map((t) => `${t.name} ${t.duration.toFixed(2)} ms`)
      .join(" · ");
  }

  function megabytes(bytes) {
    return (bytes / 1048576).toFixed(bytes < 1048576 ? 2 : 1) + " MB";
  }

  // The same rules the server applies first: type and size. The server still decides.
  function clientCheck(file, maxBytes) {
    const typeOk = ACCEPTED.includes(file.type) || (file.type === "" && EXTENSIONS.test(file.name));
    if (!typeOk) {
      if (/heic|heif/i.test(file.type) || /\.hei[cf]$/i.test(file.name)) {
        return "HEIC is not supported, export as JPEG.";
      }
      return "This is not a JPEG, PNG, GIF or WebP image.";
    }
    if (file.size === 0) return "The file is empty.";
    if (file.size > maxBytes) {
      return `The file is ${megabytes(file.size)}; the limit is ${megabytes(maxBytes)}. Resize it and try again.`;
    }
    return null;
  }

  function row(list, file) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = file.name;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", `Uploading ${file.name}`);
    const status = document.createElement("span");
    status.className = "file-status";
    status.textContent = "Waiting…";
    item.append(name, progress, status);
    list.append(item);
    return { item, progress, status };
  }

  function fail(ui, message) {
    ui.item.classList.add("failed");
    ui.progress.remove();
    ui.status.textContent = message;
  }

  function send(form, file, words, ui) {
    return new Promise((resolve) => {
      const data = new FormData();
      // The server reads the body in order and checks the token before the photo: it goes
      // first, and in the header too, so a refusal comes before any of the file is sent.
      data.append("csrf", form.elements.csrf.value);
      data.append("caption", words.caption);
      data.append("alt", words.alt);
      data.append("photo", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRF-Token", form.elements.csrf.value);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) {
          ui.progress.value = Math.round((event.loaded / event.total) * 100);
          ui.status.textContent = `${ui.progress.value}%`;
        }
      });
      xhr.addEventListener("load", () => {
        // Success is the 303 to the new photo's page, which the browser follows.
        if (xhr.status === 200 && /\/photos\/[0-9A-Z]{26}$/.test(xhr.responseURL)) {
          ui.progress.value = 100;
          ui.item.classList.add("done");
          ui.status.textContent = "";
          const link = document.createElement("a");
          link.href = new URL(xhr.responseURL).pathname;
          link.textContent = "Uploaded: view photo";
          ui.status.append(link);
          resolve(true);
          return;
        }
        let message = `Upload failed (HTTP ${xhr.status}).`;
        try {
          message = JSON.parse(xhr.responseText).error || message;
        } catch (_) {
          /* not JSON: keep the generic message */
        }
        fail(ui, message);
        resolve(false);
      });
      xhr.addEventListener("error", () => {
        // The server refuses a bad token or an oversized part as soon as it sees it and closes
        // the connection, so a browser still sending may only see the connection end.
        fail(ui, "The upload was cut off: the connection failed, or the server refused it early (an expired page, a file over the limit). Reload the page and try again.");
        resolve(false);
      });
      ui.status.textContent = "0%";
      xhr.send(data);
    });
  }

  // A file's own caption and text alternative (the per-file fields, see "Pages that connect"
  // below), else the form's shared ones.
  function wordsFor(form, index) {
    const own = (name) => document.querySelector(`#file-words [data-index="${index}"][data-words="${name}"]`);
    const pick = (name) => (own(name)?.value.trim() || form.elements[name]?.value || "");
    return { caption: pick("caption"), alt: pick("alt") };
  }

  async function refreshPhotos() {
    const response = await fetch("/", { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("photos");
    const current = document.getElementById("photos");
    if (fresh && current) current.replaceWith(fresh);
  }

  function setUpUploads() {
    const form = document.getElementById("upload-form");
    if (!form) return;
    const input = form.elements.photo;
    const list = document.getElementById("upload-list");
    const dropzone = document.getElementById("dropzone");
    const maxBytes = Number(form.dataset.maxBytes) || 20 * 1048576;
    input.multiple = true;
    document.getElementById("drop-hint").hidden = false;
    // Touch screens have nowhere to drop a file: they are told only about choosing several.
    const canDrop = window.matchMedia("(hover: hover) and (pointer: fine)").matches;
    document.getElementById("drop-anywhere").hidden = !canDrop;

    async function uploadAll(files, perFile) {
      const jobs = Array.from(files).map((file) => ({ file, ui: row(list, file) }));
      let uploaded = 0;
      for (const [index, { file, ui }] of jobs.entries()) {
        const problem = clientCheck(file, maxBytes);
        if (problem) {
          fail(ui, problem);
          continue;
        }
        if (await send(form, file, wordsFor(form, perFile ? index : -1), ui)) uploaded += 1;
      }
      if (uploaded > 0) {
        form.reset();
        await refreshPhotos();
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (input.files.length > 0) uploadAll(input.files, true);
    });
    document.addEventListener("dragover", (event) => {
      if (event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files")) {
        event.preventDefault();
        dropzone.classList.add("dragging");
      }
    });
    document.addEventListener("dragleave", (event) => {
      if (event.target === document.documentElement || event.target === dropzone) dropzone.classList.remove("dragging");
    });
    document.addEventListener("drop", (event) => {
      if (!event.dataTransfer || event.dataTransfer.files.length === 0) return;
      event.preventDefault();
      dropzone.classList.remove("dragging");
      uploadAll(event.dataTransfer.files, false);
    });
  }

  const UNITS = [
    ["year", 365 * 24 * 3600],
    ["month", 30 * 24 * 3600],
    ["week", 7 * 24 * 3600],
    ["day", 24 * 3600],
    ["hour", 3600],
    ["minute", 60],
  ];

  function showTimes() {
    if (!window.Intl || !Intl.RelativeTimeFormat) return;
    const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    const local = new Intl.DateTimeFormat(undefined, { dateStyle: "long", timeStyle: "short" });
    for (const element of document.querySelectorAll("time.ago[datetime]")) {
      const when = new Date(element.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) continue;
      const seconds = (when.getTime() - Date.now()) / 1000;
      const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size) || ["second", 1];
      element.textContent = Math.abs(seconds) < 60 ? relative.format(0, "second") : relative.format(Math.round(seconds / size), unit);
      element.title = local.format(when);
    }
  }

  function setUpDialogs() {
    if (typeof HTMLDialogElement !== "function") return;
    for (const link of document.querySelectorAll("a[data-dialog]")) {
      const dialog = document.getElementById(link.dataset.dialog);
      if (!dialog) continue;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        dialog.showModal();
      });
    }
  }

  showTimings();
  showTimes();
  setUpDialogs();
  setUpUploads();
})();

// ---- Pages that connect (helper G): per-file captions, arrow keys between photos. ----
(function () {
  // Several files chosen: one caption and text alternative field per file, empty ones falling
  // back to the shared fields. The upload code above reads them by index (wordsFor).
  function setUpFileWords() {
    const form = document.getElementById("upload-form");
    if (!form) return;
    const input = form.elements.photo;
    let list = null;
    function clear() {
      list?.remove();
      list = null;
    }
    function field(index, name, labelText, maxLength) {
      const id = `file-${name}-${index}`;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = labelText;
      const box = document.createElement("input");
      box.type = "text";
      box.id = id;
      box.maxLength = maxLength;
      box.dataset.index = String(index);
      box.dataset.words = name;
      return [label, box];
    }
    input.addEventListener("change", () => {
      clear();
      if (input.files.length < 2) return;
      list = document.createElement("ol");
      list.id = "file-words";
      list.className = "file-words";
      Array.from(input.files).forEach((file, index) => {
        const item = document.createElement("li");
        const name = document.createElement("span");
        name.className = "file-name";
        name.textContent = file.name;
        item.append(name, ...field(index, "caption", `Caption of ${file.name}`, 200),
          ...field(index, "alt", `Text alternative of ${file.name} (optional)`, 500));
        list.append(item);
      });
      const hint = document.createElement("p");
      hint.className = "hint";
      hint.textContent = "Empty fields take the caption and text alternative below.";
      list.prepend(hint);
      input.closest(".dropzone").after(list);
    });
    form.addEventListener("reset", clear);
  }

  // On a photo page, the left and right arrow keys go to the newer and older photo.
  function setUpArrowKeys() {
    const newer = document.getElementById("newer-photo");
    const older = document.getElementById("older-photo");
    if (!newer && !older) return;
    document.addEventListener("keydown", (event) => {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
      const target = event.target;
      if (target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
      const link = event.key === "ArrowLeft" ? newer : event.key === "ArrowRight" ? older : null;
      if (!link) return;
      event.preventDefault();
      window.location.assign(link.href);
    });
  }

  setUpFileWords();
  setUpArrowKeys();
})();
