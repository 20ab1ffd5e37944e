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
  function leaves(tree) {
    return Array.from(document.querySelectorAll((tree || "#picker-tree") + " .leaf"))
      .filter((b) => !b.closest("li").hidden);
  }

  function filterTree(query, tree) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    for (const group of document.querySelectorAll((tree || "#picker-tree") + " .group")) {
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

  // ---- the transcript view: decide, code and annotate passages in place with fetch() ----
  // Every action (a key, a click, a form) joins one queue and runs when the one before it is
  // answered: a key pressed while a decision is being saved is kept, never dropped, and acts on
  // the passage in focus by then (as if typed after the answer came).
  const transcript = $("#transcript");
  let focused = transcript ? $(".passage.focus") : null;
  let queue = Promise.resolve();
  let picked = null; // the coder's selection in the transcript: {segment, start, end, text}

  function enqueue(task) {
    queue = queue.then(task).catch((err) => say(String(err && err.message ? err.message : err)));
    return queue;
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // The server's own rendering of the changed passages (autoescaped by Jinja): parsed, never
  // built from data. Returns the wrapper's data (message, focus, where to move on).
  function applyFragments(html) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    const box = doc.getElementById("fragments");
    if (!box) return null;
    for (const fresh of Array.from(box.querySelectorAll(".passage"))) {
      const old = document.getElementById(fresh.id);
      if (!old) continue;
      const node = document.importNode(fresh, true);
      old.replaceWith(node);
    }
    const now = document.getElementById("s-" + box.dataset.focus);
    for (const el of document.querySelectorAll(".passage.focus")) {
      if (el !== now) unfocus(el);
    }
    if (now) focused = now;
    const strong = $("#doc-counts strong");
    if (strong && box.dataset.pending !== undefined) strong.textContent = box.dataset.pending;
    if (box.dataset.message) say(box.dataset.message, "ok");
    return box.dataset;
  }

  function unfocus(el) {
    // a passage that lost focus keeps its plain accept/reject form, not the focus controls
    el.classList.remove("focus");
    for (const extra of el.querySelectorAll(".controls .row, #memo-form, .controls input[name=start], .controls input[name=end]")) {
      extra.remove();
    }
    const form = el.querySelector(".controls");
    if (form) {
      form.classList.remove("controls");
      form.removeAttribute("id");
    }
    for (const b of el.querySelectorAll("[data-n]")) b.removeAttribute("data-n");
  }

  async function send(url, body) {
    const reply = await fetch(url, body === undefined ? { headers: { "X-Requested-With": "fetch" } }
      : { method: "POST", body: body, headers: { "X-Requested-With": "fetch" } });
    const text = await reply.text();
    if (!reply.ok) {
      say(text);
      return null;
    }
    if (!text.startsWith("<")) {
      say(text, "ok");
      return null;
    }
    return applyFragments(text);
  }

  async function focusOn(el) {
    if (!el || el === focused) return;
    const also = focused ? "?also=" + focused.dataset.segment : "";
    const data = await send("/passage/" + el.dataset.segment + also);
    if (!data || !focused) return;
    focused.scrollIntoView({ block: "nearest" });
    history.replaceState(null, "", "?segment=" + focused.dataset.segment + "#s-" + focused.dataset.segment);
  }

  async function post(form, button, extra) {
    const body = new FormData(form, button || undefined);
    for (const [k, v] of Object.entries(extra || {})) body.set(k, v);
    const data = await send(form.action, body);
    if (data && data.move && data.move !== (focused && focused.dataset.segment)) {
      await focusOn(document.getElementById("s-" + data.move));
    }
    return data;
  }

  function decideWith(button) {
    // the button is looked up when the task runs: the passage may have been re-rendered meanwhile
    enqueue(async () => {
      const b = typeof button === "function" ? button() : button;
      if (!b) return;
      const value = b.value || "";
      if (value.startsWith("adjust:")) {
        if (!picked) return say("Select the new span in the transcript first, then press adjust.");
        return post(b.form, b, { start: picked.start, end: picked.end, segment_id: picked.segment });
      }
      return post(b.form, b);
    });
  }

  function undoHere() {
    enqueue(async () => {
      const form = $("#undo-form");
      if (!form) return;
      const data = await send(form.action, new FormData(form));
      if (data && focused) focused.scrollIntoView({ block: "nearest" });
    });
  }

  // ---- free coding: a selection inside one speaker turn, any code of the codebook ----
  function selectionSpan() {
    const sel = window.getSelection();
    if (!sel || sel.isCollapsed || !sel.rangeCount) return null;
    const range = sel.getRangeAt(0);
    const startEl = range.startContainer.nodeType === Node.TEXT_NODE ? range.startContainer.parentElement
      : range.startContainer;
    const endEl = range.endContainer.nodeType === Node.TEXT_NODE ? range.endContainer.parentElement : range.endContainer;
    let a = startEl && startEl.closest(".piece");
    let b = endEl && endEl.closest(".piece");
    if ((!a && !b) || !transcript.contains(a || b)) {
      return { error: "Select words of the transcript text (not the times or the margin)." };
    }
    let start = a ? offsetOf(range.startContainer, range.startOffset) : null;
    let end = b ? offsetOf(range.endContainer, range.endOffset) : null;
    // a selection that spills into the margin (a double-click on a passage's last word does)
    // or begins on the time ends or begins with the passage's text
    if (!b) {
      const pieces = a.closest(".passage").querySelectorAll(".piece");
      b = pieces[pieces.length - 1];
      end = Number(b.dataset.offset) + Array.from(b.textContent).length;
    }
    if (!a) {
      a = b.closest(".passage").querySelector(".piece");
      start = Number(a.dataset.offset);
    }
    if (a.closest(".turn") !== b.closest(".turn")) return { error: "A coded selection stays inside one speaker turn." };
    if (start === null || end === null) return { error: "Select words of the transcript text." };
    // drop the spaces a double-click or a drag brings along at either end (gaps between passages count as space)
    const turn = a.closest(".turn");
    while (start < end && /\s/u.test(charAt(turn, start))) start += 1;
    while (end > start && /\s/u.test(charAt(turn, end - 1))) end -= 1;
    if (end <= start) return null;
    const text = sel.toString();
    return { segment: a.closest(".passage").dataset.segment, start: start, end: end, text: text.trim() };
  }

  function charAt(turn, offset) {
    for (const piece of turn.querySelectorAll(".piece")) {
      const base = Number(piece.dataset.offset);
      const chars = Array.from(piece.textContent);
      if (offset >= base && offset < base + chars.length) return chars[offset - base];
    }
    return " ";
  }

  function remember() {
    const span = selectionSpan();
    if (span && span.error) {
      picked = null;
      say(span.error);
    } else {
      picked = span;
    }
  }

  function passageText(el) {
    const pieces = Array.from(el.querySelectorAll(".piece"));
    return { base: pieces.length ? Number(pieces[0].dataset.offset) : 0,
      chars: Array.from(pieces.map((x) => x.textContent).join("")) };
  }

  function pointAt(el, offset) {
    // the DOM position of a character offset (code points) inside a passage's pieces
    for (const piece of el.querySelectorAll(".piece")) {
      const base = Number(piece.dataset.offset);
      const chars = Array.from(piece.textContent);
      if (offset <= base + chars.length) {
        const node = piece.firstChild || piece;
        return [node, chars.slice(0, Math.max(0, offset - base)).join("").length];
      }
    }
    return null;
  }

  function keyboardSelect(edge, direction) {
    // shift+arrows: move the end (→ ←) or the start (↓ ↑) of a selection in the focused passage by a word
    if (!focused) return;
    const { base, chars } = passageText(focused);
    const words = [];
    const re = /\S+/gu;
    const flat = chars.join("");
    let m;
    while ((m = re.exec(flat)) !== null) {
      const s = Array.from(flat.slice(0, m.index)).length;
      words.push([base + s, base + s + Array.from(m[0]).length]);
    }
    if (!words.length) return;
    const span = picked && picked.segment === focused.dataset.segment ? { start: picked.start, end: picked.end }
      : { start: words[0][0], end: words[0][0] };
    if (edge === "end") {
      const ends = words.map((w) => w[1]);
      const next = direction > 0 ? ends.find((x) => x > span.end) : ends.filter((x) => x < span.end).pop();
      span.end = next === undefined ? span.end : next;
    } else {
      const starts = words.map((w) => w[0]);
      const next = direction > 0 ? starts.find((x) => x > span.start) : starts.filter((x) => x < span.start).pop();
      span.start = next === undefined ? span.start : next;
    }
    if (span.end <= span.start) return;
    const a = pointAt(focused, span.start);
    const b = pointAt(focused, span.end);
    if (!a || !b) return;
    const range = document.createRange();
    range.setStart(a[0], a[1]);
    range.setEnd(b[0], b[1]);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    picked = { segment: focused.dataset.segment, start: span.start, end: span.end, text: sel.toString().trim() };
  }

  const codePicker = document.getElementById("code-picker");
  let coding = null; // what the open code picker will code: {segment, start, end} (no start: the passage)

  function openCodePicker() {
    if (!codePicker) return;
    if (picked) coding = { ...picked };
    else if (focused) coding = { segment: focused.dataset.segment };
    else return say("Select some text of the transcript first.");
    const words = coding.text ? "“" + (coding.text.length > 90 ? coding.text.slice(0, 89) + "…" : coding.text) + "”"
      : "the whole passage in focus";
    $("#code-picker-text").textContent = words;
    const box = $("#code-picker-search");
    box.value = "";
    filterTree("", "#code-picker-tree");
    codePicker.showModal();
    box.focus();
  }

  function applyCode(code) {
    const target = coding;
    coding = null;
    codePicker.close();
    if (!target || !code) return;
    enqueue(async () => {
      const form = (focused && focused.querySelector(".pform")) || document.querySelector(".pform");
      if (!form) return;
      const body = new FormData(form);
      body.set("segment_id", target.segment);
      body.set("do", "code:" + code);
      body.set("start", target.start === undefined ? "" : String(target.start));
      body.set("end", target.end === undefined ? "" : String(target.end));
      body.set("csrf_token", csrfToken());
      picked = null;
      window.getSelection().removeAllRanges();
      return send(form.action, body);
    });
  }

  if (codePicker) {
    const box = $("#code-picker-search");
    box.addEventListener("input", () => filterTree(box.value, "#code-picker-tree"));
    codePicker.addEventListener("click", (e) => {
      const leaf = e.target instanceof Element ? e.target.closest(".leaf") : null;
      if (leaf) applyCode(leaf.value);
    });
    codePicker.addEventListener("keydown", (e) => {
      const list = leaves("#code-picker-tree");
      const at = list.indexOf(document.activeElement);
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!list.length) return;
        const next = e.key === "ArrowDown" ? Math.min(at + 1, list.length - 1) : at - 1;
        if (next < 0) box.focus();
        else list[next].focus();
      } else if (e.key === "Enter") {
        e.preventDefault();
        const leaf = at >= 0 ? list[at] : list[0];
        if (leaf) applyCode(leaf.value);
      }
    });
  }

  if (transcript) {
    transcript.addEventListener("submit", (e) => {
      e.preventDefault();
      const form = e.target;
      if (form.id === "memo-form") {
        enqueue(() => send(form.action, new FormData(form)));
        return;
      }
      decideWith(e.submitter);
    });
    transcript.addEventListener("mouseup", (e) => {
      const target = e.target instanceof Element ? e.target : null;
      if (target && target.closest("button, form, textarea, select")) return;
      remember();
    });
    transcript.addEventListener("click", (e) => {
      const target = e.target instanceof Element ? e.target : null;
      if (!target) return;
      if (target.closest("#btn-code")) return openCodePicker();
      const seek = target.closest("time.seek");
      const player = document.getElementById("media");
      if (seek && player) {
        player.currentTime = Number(seek.dataset.t);
        const playing = player.play();
        if (playing && playing.catch) playing.catch(() => {});
      }
      if (target.closest("button, form")) return;
      const passage = target.closest(".passage");
      if (!passage || window.getSelection().toString()) return; // a selection is not a click
      if (target.closest("a.open")) e.preventDefault();
      if (passage !== focused) enqueue(() => focusOn(passage));
    });
    const undoForm = $("#undo-form");
    if (undoForm) {
      undoForm.addEventListener("submit", (e) => {
        e.preventDefault();
        undoHere();
      });
    }
    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing || typing(document.activeElement)) return;
      if (document.querySelector("dialog[open]")) return;
      const button = (selector) => () => focused && focused.querySelector(".controls " + selector);
      let action = null;
      if (e.shiftKey && ["ArrowRight", "ArrowLeft", "ArrowDown", "ArrowUp"].includes(e.key)) {
        const edge = e.key === "ArrowRight" || e.key === "ArrowLeft" ? "end" : "start";
        const direction = e.key === "ArrowRight" || e.key === "ArrowDown" ? 1 : -1;
        action = () => enqueue(() => keyboardSelect(edge, direction));
      } else {
        const passageKeys = {
          x: () => decideWith(button("#btn-rest")),
          0: () => decideWith(button("#btn-none")),
          j: () => enqueue(() => step(1)), n: () => enqueue(() => step(1)), ArrowDown: () => enqueue(() => step(1)),
          k: () => enqueue(() => step(-1)), p: () => enqueue(() => step(-1)), ArrowUp: () => enqueue(() => step(-1)),
          u: undoHere,
          c: () => enqueue(openCodePicker),
          m: () => enqueue(() => {
            const text = focused && focused.querySelector("#memo-text");
            if (text) text.focus();
          }),
          "?": () => openDialog("help"),
        };
        action = passageKeys[e.key];
        if (/^[1-5]$/.test(e.key)) action = () => decideWith(button('[data-n="' + e.key + '"]'));
      }
      if (!action) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      action();
    }, true);
  }

  function step(direction) {
    const all = Array.from(document.querySelectorAll(".passage.suggested"));
    if (!all.length) return null;
    const order = Array.from(document.querySelectorAll(".passage"));
    const here = focused ? order.indexOf(focused) : -1;
    const pick = direction > 0 ? all.find((p) => order.indexOf(p) > here)
      : all.reverse().find((p) => order.indexOf(p) < here);
    return pick ? focusOn(pick) : null;
  }

  // the bulk dialog: an empty score means 0.80 to accept, 0.20 to reject
  const bulkAction = $("#bulk-action");
  if (bulkAction) {
    bulkAction.addEventListener("change", () => {
      $("#bulk-score").placeholder = bulkAction.value === "reject" ? "0.20" : "0.80";
    });
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
