// nlp-theming review: keyboard shortcuts and the codebook picker.
// Every action is a plain HTML form; this file only presses the right button. It never writes
// transcript or codebook text as HTML (textContent only): that text is untrusted.
"use strict";

(function () {
  const $ = (selector) => document.querySelector(selector);
  let busy = false; // one action per key press: ignore keys until the next page has loaded

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName));
  }

  function submit(form, button) {
    if (!form || busy) return;
    busy = true;
    form.requestSubmit(button || undefined);
  }

  function pressButton(selector) {
    const button = $(selector);
    if (button) submit(button.form, button);
  }

  function go(link) {
    if (!link || busy) return;
    busy = true;
    window.location.href = link.href;
  }

  function say(text, kind) {
    let box = $(".flashes");
    if (!box) {
      box = document.createElement("div");
      box.className = "flashes";
      $("main").before(box);
    }
    const p = document.createElement("p");
    p.className = "flash " + (kind || "error");
    p.textContent = text;
    box.replaceChildren(p);
  }

  function openDialog(id) {
    const dialog = document.getElementById(id);
    if (dialog && !dialog.open) dialog.showModal();
    return dialog;
  }

  // ---- codebook picker: search, arrows, Enter ----
  function leaves() {
    return Array.from(document.querySelectorAll("#picker-tree .leaf")).filter((b) => !b.closest("li").hidden);
  }

  function filterTree(query) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    for (const group of document.querySelectorAll("#picker-tree .group")) {
      let any = false;
      for (const leaf of group.querySelectorAll(".leaf")) {
        const hit = words.every((w) => leaf.dataset.search.includes(w));
        leaf.closest("li").hidden = !hit;
        any = any || hit;
      }
      group.hidden = !any;
    }
  }

  function openPicker(mode) {
    const dialog = document.getElementById("picker");
    if (!dialog) return;
    $("#picker-action").value = mode;
    const code = $("#current-code").textContent;
    $("#picker-title").textContent = mode === "add" ? "Add a code to this segment" : "Change “" + code + "” to…";
    const search = $("#picker-search");
    search.value = "";
    filterTree("");
    dialog.showModal();
    search.focus();
  }

  const search = $("#picker-search");
  if (search) {
    search.addEventListener("input", () => filterTree(search.value));
    $("#picker").addEventListener("keydown", (e) => {
      const list = leaves();
      const at = list.indexOf(document.activeElement);
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!list.length) return;
        const next = e.key === "ArrowDown" ? Math.min(at + 1, list.length - 1) : at - 1;
        if (next < 0) search.focus();
        else list[next].focus();
      } else if (e.key === "Enter" && document.activeElement === search) {
        // Enter in the search box chooses the first match, never a hidden button
        e.preventDefault();
        if (list.length) submit($("#picker-form"), list[0]);
      }
    });
  }

  // ---- boundaries: select text, press s ----
  function offsetOf(node, offset) {
    const el = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    const piece = el && el.closest(".piece");
    if (!piece) return null;
    const base = Number(piece.dataset.offset);
    if (node.nodeType !== Node.TEXT_NODE) return base + (offset === 0 ? 0 : Array.from(piece.textContent).length);
    // Python offsets count code points; JavaScript strings count UTF-16 units
    return base + Array.from(node.data.slice(0, offset)).length;
  }

  function adjustToSelection() {
    const sel = window.getSelection();
    const form = $("#adjust-form");
    if (!form) return;
    if (!sel || sel.isCollapsed || !sel.rangeCount) {
      say("Select some words of the transcript first, then press s.");
      return;
    }
    const range = sel.getRangeAt(0);
    let start = offsetOf(range.startContainer, range.startOffset);
    let end = offsetOf(range.endContainer, range.endOffset);
    if (start === null || end === null) {
      // only the segment's own turn carries offsets: a span never takes in another speaker's words
      say("Select text inside the highlighted turn (not the turns around it, the speaker names or the … marks).");
      return;
    }
    // drop the spaces a double-click selection brings along
    const text = sel.toString();
    start += Array.from(text).length - Array.from(text.trimStart()).length;
    end -= Array.from(text).length - Array.from(text.trimEnd()).length;
    if (end <= start) {
      say("Select some words of the transcript first, then press s.");
      return;
    }
    form.elements.start.value = String(start);
    form.elements.end.value = String(end);
    submit(form);
  }

  // ---- clicks on data-* helpers ----
  document.addEventListener("click", (e) => {
    const target = e.target instanceof Element ? e.target : null;
    if (!target) return;
    const opener = target.closest("[data-open]");
    if (opener) openDialog(opener.dataset.open);
    const closer = target.closest("[data-close]");
    if (closer) closer.closest("dialog").close();
    const picker = target.closest("[data-picker]");
    if (picker) openPicker(picker.dataset.picker);
    const fill = target.closest("[data-fill]");
    if (fill) {
      const input = document.getElementById(fill.dataset.fill);
      input.value = fill.dataset.value;
      input.focus();
    }
  });

  // ---- the transcript view: focus a passage, decide it in place with fetch() ----
  const transcript = $("#transcript");
  let focused = transcript ? $(".passage.focus") : null;

  function swap(el, html) {
    // the server's own rendering of one passage (autoescaped by Jinja): parsed, never built from data
    const fresh = new DOMParser().parseFromString(html, "text/html").body.firstElementChild;
    el.replaceWith(fresh);
    return fresh;
  }

  function countPending() {
    const strong = $("#doc-counts strong");
    if (strong) strong.textContent = String(document.querySelectorAll(".passage.pending").length);
  }

  let wanted = null; // a passage clicked while a request was on its way: focused when it is back

  function later() {
    const next = wanted;
    wanted = null;
    if (next && next !== focused) focusOn(next);
  }

  async function focusOn(el) {
    if (!el) return;
    if (busy) {
      wanted = el;
      return;
    }
    busy = true;
    try {
      const reply = await fetch("/passage/" + el.dataset.segment, { headers: { "X-Requested-With": "fetch" } });
      if (!reply.ok) return say(await reply.text());
      if (focused && focused !== el) {
        focused.classList.remove("focus");
        const controls = focused.querySelector(".controls");
        if (controls) controls.remove();
      }
      focused = swap(el, await reply.text());
      focused.scrollIntoView({ block: "nearest" });
      history.replaceState(null, "", "?segment=" + focused.dataset.segment + "#s-" + focused.dataset.segment);
    } finally {
      busy = false;
    }
    later();
  }

  async function decideHere(button) {
    if (!button || busy || !focused) return;
    busy = true;
    let moveTo = null;
    try {
      const form = button.form;
      const reply = await fetch(form.action, {
        method: "POST",
        body: new FormData(form, button),
        headers: { "X-Requested-With": "fetch" },
      });
      if (!reply.ok) return say(await reply.text());
      focused = swap(focused, await reply.text());
      countPending();
      say(button.value === "none" ? "No code applies: recorded." : button.value === "rest"
        ? "Rejected the rest." : "Accepted " + button.value.slice(7) + ".", "ok");
      if (button.value === "rest" || button.value === "none") moveTo = focused.dataset.next;
    } finally {
      busy = false;
    }
    if (wanted) later();
    else if (moveTo && moveTo !== focused.dataset.segment) focusOn(document.getElementById("s-" + moveTo));
  }

  function step(direction) {
    const all = Array.from(document.querySelectorAll(".passage.suggested"));
    if (!all.length) return;
    const order = Array.from(document.querySelectorAll(".passage"));
    const here = focused ? order.indexOf(focused) : -1;
    const pick = direction > 0 ? all.find((p) => order.indexOf(p) > here)
      : all.reverse().find((p) => order.indexOf(p) < here);
    if (pick) focusOn(pick);
  }

  if (transcript) {
    transcript.addEventListener("submit", (e) => {
      e.preventDefault();
      decideHere(e.submitter);
    });
    transcript.addEventListener("click", (e) => {
      const target = e.target instanceof Element ? e.target : null;
      if (!target || target.closest("button, form")) return;
      const passage = target.closest(".passage");
      if (!passage || window.getSelection().toString()) return; // a selection is not a click
      if (target.closest("a.open")) e.preventDefault();
      if (passage !== focused) focusOn(passage);
    });
    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing || typing(document.activeElement)) return;
      if (document.querySelector("dialog[open]")) return;
      const form = focused && focused.querySelector(".controls");
      const passageKeys = {
        x: () => form && decideHere(form.querySelector("#btn-rest")),
        0: () => form && decideHere(form.querySelector("#btn-none")),
        j: () => step(1), n: () => step(1), ArrowDown: () => step(1),
        k: () => step(-1), p: () => step(-1), ArrowUp: () => step(-1),
        u: () => submit($("#undo-form")),
        "?": () => openDialog("help"),
      };
      let action = passageKeys[e.key];
      if (/^[1-5]$/.test(e.key)) action = () => form && decideHere(form.querySelector('[data-n="' + e.key + '"]'));
      if (!action) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      action();
    }, true);
  }

  // ---- the keys ----
  const keys = {
    1: () => pressButton('#passage-form [data-n="1"]'),
    2: () => pressButton('#passage-form [data-n="2"]'),
    3: () => pressButton('#passage-form [data-n="3"]'),
    4: () => pressButton('#passage-form [data-n="4"]'),
    5: () => pressButton('#passage-form [data-n="5"]'),
    x: () => pressButton("#btn-rest"),
    0: () => pressButton("#btn-none"),
    a: () => submit($("#decide-form"), $("#btn-accept")),
    r: () => submit($("#decide-form"), $("#btn-reject")),
    c: () => openPicker("change"),
    "+": () => openPicker("add"),
    "=": () => openPicker("add"),
    n: () => go($("#next-link")),
    j: () => go($("#next-link")),
    ArrowRight: () => go($("#next-link")),
    p: () => go($("#prev-link")),
    k: () => go($("#prev-link")),
    ArrowLeft: () => go($("#prev-link")),
    u: () => submit($("#undo-form")),
    s: adjustToSelection,
    b: () => openDialog("bulk"),
    f: () => {
      const first = $("#filters select");
      if (first) first.focus();
    },
    "?": () => openDialog("help"),
    Escape: () => go($("#bulk-cancel")),
  };

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    if (document.querySelector("dialog[open]")) return; // a dialog handles its own keys; Esc closes it
    if (typing(document.activeElement)) {
      if (e.key === "Escape") document.activeElement.blur();
      return;
    }
    const action = keys[e.key];
    if (!action) return;
    if (!$("#decide-form") && !["u", "?", "f", "Escape"].includes(e.key)) return;
    e.preventDefault();
    action();
  });
})();
