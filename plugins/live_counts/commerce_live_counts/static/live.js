// The /live/ page: the top products by units sold, kept current over WS /ws/live-counts/.
// Plain DOM, no framework; every figure and name reaches the page through textContent.

const TOP = 100;
const PRODUCTS_URL = `/api/products/?ordering=-sold_count&page_size=${TOP}`;
const SOCKET_PATH = "/ws/live-counts/";
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;
const STEADY_MS = 10_000; // a socket live this long resets the backoff when it drops
const SNAPSHOT_WAIT_MS = 10_000; // an open socket that sends no snapshot by then is replaced
const REFRESH_MS = 60_000; // the list is re-read this often: new products, climbers, retirees
const HIGHLIGHT_MS = 1600;
const NO_SEQ = -1; // a figure not (yet) from this connection's socket

const view = Object.fromEntries(
  ["status", "status-text", "total", "shown", "catalog-size", "updated", "updated-note", "rows", "empty", "problem"].map(
    (id) => [id, document.getElementById(id)],
  ),
);
const numbers = new Intl.NumberFormat();
const names = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const day = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

/** id → {id, name, sku, sold, seq, row, rankCell, nameCell, skuCell, figure} on the board. */
const board = new Map();

let socket = null; // the socket in use; events of any other (an old one) are ignored
let live = false; // the socket in use has answered its first subscription
let liveSince = 0;
let failures = 0; // attempts in a row that did not stay live: the backoff exponent
let attempt = 0; // bumped by every attempt, so a stale fetch gives up
let retryAt = 0;
let timers = { retry: 0, countdown: 0, snapshot: 0, refresh: 0 };
let renderQueued = false;

// Connection

function setState(state, text) {
  view.status.dataset.state = state;
  view["status-text"].textContent = text;
}

function stopTimers() {
  clearTimeout(timers.retry);
  clearInterval(timers.countdown);
  clearTimeout(timers.snapshot);
  clearInterval(timers.refresh);
  timers = { retry: 0, countdown: 0, snapshot: 0, refresh: 0 };
}

function dropSocket() {
  const old = socket;
  socket = null;
  live = false;
  if (old && old.readyState <= WebSocket.OPEN) old.close(1000, "page reconnects");
}

async function connect() {
  const mine = ++attempt;
  stopTimers();
  dropSocket();
  if (!navigator.onLine) {
    goOffline();
    return;
  }
  setState("connecting", "Connecting…");
  let page;
  try {
    page = await fetchTop();
  } catch (error) {
    if (mine === attempt) {
      showProblem(`Could not load the products (${error.message}).`);
      retryLater();
    }
    return;
  }
  if (mine !== attempt) return;
  showProblem("");
  showProducts(page, false);
  openSocket();
}

async function fetchTop() {
  const response = await fetch(PRODUCTS_URL, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const page = await response.json();
  if (!page || !Array.isArray(page.results)) throw new Error("unexpected answer");
  return page;
}

function socketUrl() {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${SOCKET_PATH}`;
}

function openSocket() {
  let ws;
  try {
    ws = new WebSocket(socketUrl());
  } catch (error) {
    showProblem(`Could not open the live connection (${error.message}).`);
    retryLater();
    return;
  }
  socket = ws;
  ws.addEventListener("open", () => {
    if (ws !== socket) return;
    // Sequence numbers are compared within one connection: the snapshot restarts them.
    for (const product of board.values()) product.seq = NO_SEQ;
    timers.snapshot = setTimeout(() => ws === socket && ws.close(4000, "no snapshot"), SNAPSHOT_WAIT_MS);
    if (board.size) send({ subscribe: [...board.keys()] });
    else becomeLive();
  });
  ws.addEventListener("message", (event) => {
    if (ws === socket) receive(event.data);
  });
  ws.addEventListener("close", () => {
    if (ws !== socket) return;
    socket = null;
    if (live && Date.now() - liveSince >= STEADY_MS) failures = 0;
    live = false;
    retryLater();
  });
}

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

function becomeLive() {
  clearTimeout(timers.snapshot);
  if (live) return;
  live = true;
  liveSince = Date.now();
  setState("live", "Live");
  clearInterval(timers.refresh);
  timers.refresh = setInterval(refresh, REFRESH_MS);
}

function retryLater() {
  stopTimers();
  if (!navigator.onLine) {
    goOffline();
    return;
  }
  // Full delay doubles from RETRY_FIRST_MS up to RETRY_MAX_MS; half of it is random so the
  // screens that lost the same server do not all come back in the same instant.
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** failures);
  const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
  failures += 1;
  retryAt = Date.now() + delay;
  timers.retry = setTimeout(connect, delay);
  countdown();
  timers.countdown = setInterval(countdown, 250);
}

function countdown() {
  const seconds = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
  setState("reconnecting", `Reconnecting in ${seconds} s`);
}

function goOffline() {
  stopTimers();
  attempt += 1;
  dropSocket();
  setState("offline", "Offline");
}

async function refresh() {
  const ws = socket;
  let page;
  try {
    page = await fetchTop();
  } catch {
    return; // the socket, not this read, says whether the page is connected
  }
  if (ws !== socket || !live) return;
  const { added, gone } = showProducts(page, true);
  if (gone.length) send({ unsubscribe: gone });
  if (added.length) send({ subscribe: added });
}

// Frames

function receive(data) {
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return;
  }
  if (!frame || typeof frame !== "object") return;
  if (frame.type === "snapshot") applySnapshot(frame);
  else if (frame.type === "sold_count") applySoldCount(frame);
  else if (frame.type === "error") console.warn("live counts:", frame.detail);
}

function applySnapshot({ counts, seq }) {
  if (!counts || typeof counts !== "object" || !Number.isSafeInteger(seq)) return;
  let changed = false;
  for (const [key, sold] of Object.entries(counts)) {
    const product = board.get(Number(key));
    if (product && seq > product.seq) {
      product.seq = seq;
      changed = setSold(product, sold) || changed;
    }
  }
  touched(changed);
  becomeLive();
}

function applySoldCount({ product_id: id, sold, seq }) {
  const product = board.get(id);
  if (!product || !Number.isSafeInteger(seq) || seq <= product.seq) return;
  product.seq = seq;
  if (setSold(product, sold)) touched(true);
}

// The board

function text(value) {
  return value === null || value === undefined ? "" : String(value);
}

function showProducts(page, keepLiveFigures) {
  const seen = new Set();
  const added = [];
  let renamed = false;
  for (const item of page.results) {
    if (!item || !Number.isSafeInteger(item.id) || seen.has(item.id)) continue;
    seen.add(item.id);
    let product = board.get(item.id);
    if (!product) {
      product = newProduct(item.id);
      board.set(item.id, product);
      added.push(item.id);
    }
    const name = text(item.name);
    renamed ||= name !== product.name; // names break ties, so a rename can re-sort
    product.nameCell.textContent = product.name = name;
    product.skuCell.textContent = product.sku = text(item.sku);
    // While live, the socket's figures are newer than a list read a moment ago.
    if (!(keepLiveFigures && product.seq !== NO_SEQ)) setSold(product, item.sold_count);
  }
  const gone = [...board.keys()].filter((id) => !seen.has(id));
  for (const id of gone) {
    board.get(id).row.remove();
    board.delete(id);
  }
  const count = Number.isSafeInteger(page.count) ? page.count : board.size;
  view["catalog-size"].textContent =
    count > board.size ? `of ${numbers.format(count)} on sale` : "all on sale";
  touched(!keepLiveFigures || renamed || added.length > 0 || gone.length > 0);
  return { added, gone };
}

function newProduct(id) {
  const row = document.createElement("tr");
  row.dataset.productId = String(id);
  const cell = (tag, className) => {
    const element = document.createElement(tag);
    element.className = className;
    row.append(element);
    return element;
  };
  const rankCell = cell("td", "rank");
  const nameCell = cell("th", "name");
  nameCell.scope = "row";
  const skuCell = cell("td", "sku");
  const figure = document.createElement("span");
  figure.className = "figure";
  cell("td", "sold").append(figure);
  return { id, name: "", sku: "", sold: null, seq: NO_SEQ, row, rankCell, nameCell, skuCell, figure, flash: 0 };
}

function setSold(product, sold) {
  if (!Number.isSafeInteger(sold) || sold < 0 || sold === product.sold) return false;
  const before = product.sold;
  product.sold = sold;
  product.figure.textContent = numbers.format(sold);
  if (before !== null) highlight(product, sold > before ? "flash-up" : "flash-down");
  return true;
}

function highlight(product, kind) {
  const { figure } = product;
  figure.classList.remove("flash-up", "flash-down");
  void figure.offsetWidth; // restart the animation when the same figure changes again
  figure.classList.add(kind);
  clearTimeout(product.flash);
  product.flash = setTimeout(() => figure.classList.remove(kind), HIGHLIGHT_MS);
}

function bySales(a, b) {
  return (b.sold ?? 0) - (a.sold ?? 0) || names.compare(a.name, b.name) || a.id - b.id;
}

/** Something on the board changed (figures, rows): re-sort and re-total at the next frame. */
function touched(changed) {
  if (!changed) return;
  const now = new Date();
  view.updated.textContent = clock.format(now);
  view["updated-note"].textContent = day.format(now);
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(render);
}

function render() {
  renderQueued = false;
  const products = [...board.values()].sort(bySales);
  const rows = view.rows;
  const animate = !reducedMotion.matches && rows.isConnected && document.visibilityState === "visible";
  const before = new Map();
  if (animate) for (const p of products) if (p.row.parentNode) before.set(p, p.row.getBoundingClientRect().top);

  products.forEach((product, index) => {
    product.rankCell.textContent = String(index + 1);
    if (rows.children[index] !== product.row) rows.insertBefore(product.row, rows.children[index] ?? null);
  });

  // Rows that moved slide from where they were (FLIP) instead of jumping.
  for (const [product, top] of before) {
    const dy = top - product.row.getBoundingClientRect().top;
    if (Math.abs(dy) > 1) {
      const { row } = product;
      if (dy > 0) row.classList.add("rising"); // a climber passes over the rows it overtakes
      const slide = row.animate([{ transform: `translateY(${dy}px)` }, { transform: "none" }], {
        duration: 450,
        easing: "cubic-bezier(.2,.7,.3,1)",
      });
      slide.finished.then(() => row.classList.remove("rising")).catch(() => {});
    }
  }

  const total = products.reduce((sum, p) => sum + (p.sold ?? 0), 0);
  view.total.textContent = numbers.format(total);
  view.shown.textContent = numbers.format(products.length);
  view.empty.hidden = products.length > 0;
  document.title = products.length ? `${numbers.format(total)} sold · Live sales` : "Live sales";
}

function showProblem(message) {
  view.problem.textContent = message;
  view.problem.hidden = !message;
}

// Start, and follow the browser's own view of the network.

window.addEventListener("offline", goOffline);
window.addEventListener("online", () => {
  failures = 0;
  connect();
});
document.addEventListener("visibilitychange", () => {
  // Timers of a hidden tab are throttled: come back at once instead of at the next tick.
  if (document.visibilityState === "visible" && view.status.dataset.state === "reconnecting") connect();
});
connect();
