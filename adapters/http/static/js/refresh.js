// Auto-refresh of the desk's live panels (queues and dead letters, incidents, charts, re-drives,
// pipeline): every EVERY_MS while the tab is visible and not paused. A hidden tab waits; when it
// shows again, the panels are refreshed at once. Each panel's refresh is quiet (what it shows
// stays until the answer comes) and never overlaps itself.

const EVERY_MS = 10000;

export function createRefresher({ toggle, state, every = EVERY_MS }) {
  const live = []; // {name, refresh, visible}
  let paused = false;
  let timer = null;
  const running = new Set();

  function register(name, refresh, visible) {
    live.push({ name, refresh, visible });
  }

  function refreshAll() {
    for (const panel of live) {
      if (!panel.visible() || running.has(panel.name)) continue;
      running.add(panel.name);
      Promise.resolve()
        .then(() => panel.refresh())
        .catch(() => {})
        .finally(() => running.delete(panel.name));
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(tick, every);
  }

  function tick() {
    if (!paused && !document.hidden) refreshAll();
    schedule();
  }

  function say() {
    const seconds = Math.round(every / 1000);
    toggle.textContent = paused ? "Resume" : "Pause";
    toggle.setAttribute("aria-pressed", String(paused));
    state.dataset.paused = String(paused);
    state.textContent = paused ? "Auto-refresh paused"
      : document.hidden ? `Auto-refresh every ${seconds} s (waits while this tab is hidden)`
      : `Auto-refresh every ${seconds} s`;
  }

  toggle.addEventListener("click", () => {
    paused = !paused;
    say();
    if (!paused) {
      refreshAll();
      schedule();
    }
  });
  document.addEventListener("visibilitychange", () => {
    say();
    if (!document.hidden && !paused && timer !== null) {
      refreshAll();
      schedule();
    }
  });

  return {
    register,
    start() {
      say();
      schedule();
    },
    stop() {
      clearTimeout(timer);
      timer = null;
    },
    get paused() {
      return paused;
    },
  };
}
