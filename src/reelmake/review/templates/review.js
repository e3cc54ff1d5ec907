"use strict";
// The contact sheet: draws the board (shots, takes, decisions, cuts) from JSON, keeps it current while a
// render runs (polling a cheap version stamp), and sends decisions to the server. Live and exported
// pages run this same script; an exported one has no server, so no buttons and no polling.
let board = JSON.parse(document.getElementById("board").textContent);
let selected = null;        // the shot (its decision name) the keyboard acts on
const picked = new Map();   // shot name -> the take picked with 1-9 or a click
const drawn = new Map();    // shot name -> the JSON it was last drawn from (redraw only what changed)

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

function money(value) { return "$" + Number(value).toFixed(2); }

function takeFigure(shot, take) {
  const classes = ["take"];
  if (take.approved) classes.push("approved");
  if (take.rejected !== null) classes.push("rejected");
  if (picked.get(shot.name) === take.take) classes.push("picked");
  // A generated image (a character sheet) is a still: its poster is the picture.
  const media = take.clip && shot.kind === "image"
    ? el("img", {src: take.poster, alt: `${shot.name} take ${take.take}`, class: "still"})
    : take.clip
    ? el("video", {src: take.clip, poster: take.poster, controls: true, preload: "none", playsinline: true,
                   "aria-label": `${shot.name} take ${take.take}`})
    : el("div", {class: "placeholder"}, take.status.replace("_", " "));
  const marks = [];
  if (take.approved) marks.push(el("span", {class: "mark ok"}, "approved"));
  if (take.rejected !== null) marks.push(el("span", {class: "mark bad"}, "rejected"));
  if (shot.in_cut === take.take) marks.push(el("span", {class: "mark incut"}, "in cut"));
  const buttons = STATIC || !take.clip ? [] : [
    el("button", {class: "approve", type: "button", onclick: () => decide(shot, take.take, "approve")}, "Approve"),
    el("button", {class: "reject", type: "button", onclick: () => decide(shot, take.take, "reject")}, "Reject"),
  ];
  const reason = take.rejected ? el("span", {class: "reason"}, "“" + take.rejected + "”")
    : take.error ? el("span", {class: "reason"}, take.error) : null;
  return el("figure", {class: classes.join(" "), "data-take": take.take,
                       onclick: (event) => { if (event.target.tagName !== "BUTTON") pick(shot.name, take.take, false); }},
            media, el("figcaption", {}, el("span", {class: "label"}, `take ${take.take}`), marks, el("span", {class: "spacer"}),
               buttons, reason));
}

function decisionLine(shot) {
  const a = shot.approval;
  if (!a || a.approved === null) return el("div", {class: "decision"}, "not approved yet");
  let text = `approved take ${a.approved}` + (a.by ? ` by ${a.by}` : "") + (a.at ? ` · ${a.at.replace("T", " ").replace("Z", " UTC")}` : "");
  if (a.note) text += ` — “${a.note}”`;
  if (a.superseded) text += " (superseded: the shot changed since; the cut uses its newest take)";
  return el("div", {class: "decision " + (a.superseded ? "superseded" : "approved")}, text);
}

function shotCard(shot) {
  const total = shot.takes.length;
  const meta = `${shot.backend}/${shot.model} · ${shot.duration} s · ${shot.aspect_ratio} · ${money(shot.cost)}` +
    (total > 1 ? ` per take · ${total} takes` : "");
  const card = el("article", {class: "shot" + (selected === shot.name ? " selected" : ""), "data-name": shot.name,
                              tabindex: "-1", onclick: () => select(shot.name, false)},
    el("div", {class: "info"},
      el("h2", {}, shot.name, el("span", {class: "badge " + shot.status}, shot.status.replace("_", " "))),
      el("div", {class: "meta"}, meta),
      el("p", {class: "prompt"}, shot.prompt),
      shot.segments.length ? el("ol", {class: "segments"}, shot.segments.map((s) => el("li", {}, s))) : null,
      shot.caption ? el("div", {class: "caption"}, "caption: " + shot.caption) : null,
      decisionLine(shot),
      STATIC ? null : el("input", {class: "note", type: "text", placeholder: "note for approve / reject (optional)",
                                   "aria-label": `note for ${shot.name}`})),
    el("div", {class: "takes"}, shot.takes.map((take) => takeFigure(shot, take))));
  return card;
}

function cutPanel(cut) {
  const label = (cut.variant ? cut.variant + "/" : "") + cut.name;
  const used = cut.shots.map((s) => s.take ? `${s.shot} #${s.take}` : `${s.shot} (${s.status})`).join(" · ");
  return el("div", {class: "cut", "data-cut": label},
    el("h3", {}, `${label} · ${cut.size} · ${Number(cut.duration).toFixed(2)} s`),
    el("video", {src: cut.video, poster: cut.poster, controls: true, preload: "none"}),
    el("div", {class: "takes-used"}, used));
}

function draw() {
  const approved = board.approved, count = board.shots.length;
  document.getElementById("summary").textContent = `${count} shot${count === 1 ? "" : "s"} · ${approved} approved`;
  const error = document.getElementById("error");
  error.hidden = !board.error;
  error.textContent = board.error ? "The storyboard does not load now; showing it as it last did. " + board.error : "";
  const cuts = document.getElementById("cuts");
  const cutsJson = JSON.stringify(board.cuts);
  if (cuts.dataset.drawn !== cutsJson) {
    cuts.replaceChildren(...board.cuts.map(cutPanel));
    cuts.dataset.drawn = cutsJson;
  }
  const main = document.getElementById("shots");
  const keep = new Set(board.shots.map((s) => s.name));
  for (const card of [...main.children]) if (!keep.has(card.dataset.name)) { card.remove(); drawn.delete(card.dataset.name); }
  let previous = null;
  for (const shot of board.shots) {
    const json = JSON.stringify(shot);
    let card = main.querySelector(`article[data-name="${CSS.escape(shot.name)}"]`);
    if (!card || drawn.get(shot.name) !== json) {
      const fresh = shotCard(shot);
      const note = card && card.querySelector(".note");
      if (note && fresh.querySelector(".note")) fresh.querySelector(".note").value = note.value;
      if (card) card.replaceWith(fresh); else main.append(fresh);
      card = fresh;
      drawn.set(shot.name, json);
    }
    if (previous ? previous.nextElementSibling !== card : main.firstElementChild !== card) {
      if (previous) previous.after(card); else main.prepend(card);
    }
    previous = card;
  }
  if (selected === null && board.shots.length) select(board.shots[0].name, false);
}

function card(name) { return document.querySelector(`article[data-name="${CSS.escape(name)}"]`); }

function select(name, scroll = true) {
  selected = name;
  document.querySelectorAll("article.shot").forEach((c) => c.classList.toggle("selected", c.dataset.name === name));
  const target = card(name);
  if (target && scroll) { target.scrollIntoView({block: "nearest"}); target.focus({preventScroll: true}); }
}

function pick(name, take, play = true) {
  select(name, play);
  picked.set(name, take);
  const target = card(name);
  if (!target) return;
  target.querySelectorAll("figure.take").forEach((f) => f.classList.toggle("picked", Number(f.dataset.take) === take));
  const video = target.querySelector(`figure.take[data-take="${take}"] video`);
  if (play && video) {
    target.querySelectorAll("video").forEach((v) => { if (v !== video) v.pause(); });
    video.play().catch(() => {});
  }
}

function shotByName(name) { return board.shots.find((s) => s.name === name); }

async function decide(shot, take, action) {
  if (STATIC) return;
  const target = card(shot.name);
  const noteInput = target && target.querySelector(".note");
  const note = noteInput ? noteInput.value.trim() : "";
  setLive("busy", action === "approve" ? `approving take ${take}…` : `rejecting take ${take}…`);
  try {
    const response = await fetch("/api/decide", {method: "POST",
      headers: {"Content-Type": "application/json", "X-Review-Token": TOKEN},
      body: JSON.stringify({shot: shot.name, take, action, note})});
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    if (noteInput) noteInput.value = "";
    board = answer;
    draw();
    setLive("ok", "live");
  } catch (error) {
    setLive("off", "not saved: " + error.message);
  }
}

function setLive(state, text) {
  const dot = document.getElementById("live");
  if (!dot) return;
  dot.className = "live-dot" + (state === "ok" ? "" : " " + state);
  dot.textContent = text;
}

document.addEventListener("keydown", (event) => {
  if (event.target.matches("input, textarea") || event.metaKey || event.ctrlKey || event.altKey) return;
  const names = board.shots.map((s) => s.name);
  const at = names.indexOf(selected);
  if (event.key === "j" || event.key === "k") {
    const next = Math.min(names.length - 1, Math.max(0, at + (event.key === "j" ? 1 : -1)));
    if (names.length) select(names[next]);
  } else if (/^[1-9]$/.test(event.key) && selected !== null) {
    const shot = shotByName(selected);
    const take = Number(event.key);
    if (shot && shot.takes.some((t) => t.take === take)) pick(selected, take);
  } else if ((event.key === "a" || event.key === "r") && selected !== null && !STATIC) {
    const shot = shotByName(selected);
    if (!shot) return;
    const rendered = shot.takes.filter((t) => t.clip).map((t) => t.take);
    const take = picked.has(selected) ? picked.get(selected) : (event.key === "a" ? Math.max(...rendered) : null);
    if (take === null || !Number.isFinite(take)) return;
    decide(shot, take, event.key === "a" ? "approve" : "reject");
  } else {
    return;
  }
  event.preventDefault();
});

async function poll() {
  try {
    const response = await fetch("/api/version?token=" + encodeURIComponent(TOKEN), {cache: "no-store"});
    if (!response.ok) throw new Error(response.statusText);
    const {version} = await response.json();
    if (version !== board.version) {
      const fresh = await fetch("/api/board?token=" + encodeURIComponent(TOKEN), {cache: "no-store"});
      if (fresh.ok) { board = await fresh.json(); draw(); }
    }
    const busy = board.shots.some((s) => s.status === "in_flight");
    setLive(busy ? "busy" : "ok", busy ? "rendering…" : "live");
  } catch (error) {
    setLive("off", "offline");
  }
  setTimeout(poll, 1500);
}

draw();
if (!STATIC) setTimeout(poll, 1500);
