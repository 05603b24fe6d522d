// ddhpose's result page: every person's skeleton in the world frame on the floor grid (three.js),
// the video frames or the 2D keypoints beside it, a time slider, play / pause and the angle plots.
// Everything it shows is in the JSON of #data (written by ddhpose.export.viewer); nothing is fetched.
const errors = [];
window.addEventListener('error', (e) => errors.push(String(e.message || e)));
const consoleError = console.error.bind(console);
console.error = (...args) => { errors.push(args.map(String).join(' ')); consoleError(...args); };

const data = JSON.parse(document.getElementById('data').textContent);
const threeSource = document.getElementById('three-source').textContent;
const THREE = await import(URL.createObjectURL(new Blob([threeSource], { type: 'text/javascript' })));
const $ = (id) => document.getElementById(id);
const J = data.names.length;
const bones = data.parents.map((p, j) => [p, j]).filter(([p]) => p >= 0);
const first = data.first, last = data.last;
let frame = first, playing = false;

// --- people: their colour chips, and each frame's joints (null where the person is not in it) ---
$('people').innerHTML = data.people.map((p) =>
  `<span style="background:${p.colour}">person ${p.id}${p.world ? '' : ' (camera frame)'}</span>`).join('');
const jointsAt = (p, f, key = 'joints', dims = 3) => {
  const i = f - p.first;
  if (i < 0 || i >= p.frames) return null;
  return p[key].slice(i * J * dims, (i + 1) * J * dims);
};

// --- 3D: floor grid, a sphere per joint and a cylinder per bone, one material per person ---
const canvas3d = $('view3d');
const renderer = new THREE.WebGLRenderer({ canvas: canvas3d, antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(1);
const scene = new THREE.Scene();
scene.background = new THREE.Color(0xf4f4f4);
const [cx, cz, extent] = data.floor;
const grid = new THREE.GridHelper(Math.ceil(extent + 4), Math.ceil(extent + 4) * 2, 0x888888, 0xcccccc);
grid.position.set(cx, 0, cz);
scene.add(grid);
// what someone stood on off the floor (a box, a stage): see-through, there throughout
const supportFill = new THREE.MeshBasicMaterial({ color: data.support_colour, transparent: true, opacity: 0.25, depthWrite: false });
const supportEdge = new THREE.LineBasicMaterial({ color: data.support_colour });
data.people.forEach((p) => p.supports.forEach(([x0, y0, z0, x1, y1, z1]) => {
  const box = new THREE.BoxGeometry(x1 - x0, y1 - y0, z1 - z0);
  for (const part of [new THREE.Mesh(box, supportFill), new THREE.LineSegments(new THREE.EdgesGeometry(box), supportEdge)]) {
    part.position.set((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2);
    scene.add(part);
  }
}));
const sphere = new THREE.SphereGeometry(data.joint_radius, 12, 8);
const cylinder = new THREE.CylinderGeometry(data.bone_radius, data.bone_radius, 1, 8);
const add = (mesh) => { scene.add(mesh); return mesh; };
const figures = data.people.map((p) => {
  const material = new THREE.MeshBasicMaterial({ color: p.colour });
  return { joints: Array.from({ length: J }, () => add(new THREE.Mesh(sphere, material))),
           limbs: bones.map(() => add(new THREE.Mesh(cylinder, material))) };
});
const up = new THREE.Vector3(0, 1, 0), a = new THREE.Vector3(), b = new THREE.Vector3();
function pose3d(f) {
  data.people.forEach((p, k) => {
    const q = jointsAt(p, f), fig = figures[k];
    fig.joints.forEach((m, j) => { m.visible = !!q; if (q) m.position.set(q[3 * j], q[3 * j + 1], q[3 * j + 2]); });
    fig.limbs.forEach((m, i) => {
      m.visible = !!q;
      if (!q) return;
      const [s, e] = bones[i];
      a.set(q[3 * s], q[3 * s + 1], q[3 * s + 2]);
      b.set(q[3 * e], q[3 * e + 1], q[3 * e + 2]);
      m.position.copy(a).add(b).multiplyScalar(0.5);
      m.scale.set(1, Math.max(a.distanceTo(b), 1e-6), 1);
      m.quaternion.setFromUnitVectors(up, b.sub(a).normalize());
    });
  });
}

// --- the orbit camera: drag to turn about the people's centre, wheel to zoom; starts on the video camera's side ---
const camera = new THREE.PerspectiveCamera(40, 1, 0.05, 500);
const orbit = { azimuth: 0, elevation: 0.3, distance: Math.max(4, 1.2 * extent + 2.5),
                target: new THREE.Vector3(cx, data.centre_height, cz) };
function placeCamera() {
  const { azimuth, elevation, distance, target } = orbit;
  camera.position.set(target.x + distance * Math.cos(elevation) * Math.sin(azimuth),
                      target.y + distance * Math.sin(elevation),
                      target.z + distance * Math.cos(elevation) * Math.cos(azimuth));
  camera.lookAt(target);
}
let drag = null;
canvas3d.addEventListener('pointerdown', (e) => { drag = [e.clientX, e.clientY]; canvas3d.setPointerCapture(e.pointerId); });
canvas3d.addEventListener('pointerup', () => { drag = null; });
canvas3d.addEventListener('pointermove', (e) => {
  if (!drag) return;
  orbit.azimuth -= (e.clientX - drag[0]) * 0.01;
  orbit.elevation = Math.min(1.5, Math.max(-0.2, orbit.elevation + (e.clientY - drag[1]) * 0.01));
  drag = [e.clientX, e.clientY];
  draw();
});
canvas3d.addEventListener('wheel', (e) => { e.preventDefault(); orbit.distance *= Math.exp(e.deltaY * 0.001); draw(); },
                          { passive: false });
$('note3d').textContent = data.people.every((p) => p.world) ? 'world frame: y up, floor grid 0.5 m'
  : 'no floor found for some people: their camera frame, turned upright, lowest joint on the grid';

// --- 2D: the video frame (when the page has them) or a blank image, with each person's keypoints ---
const canvas2d = $('view2d'), ctx2d = canvas2d.getContext('2d');
const images = {};
for (const [f, uri] of Object.entries(data.video || {})) { images[f] = new Image(); images[f].src = uri; }
const videoFrames = Object.keys(images).map(Number).sort((x, y) => x - y);
$('note2d').textContent = videoFrames.length ? 'video frames and 2D keypoints' : '2D keypoints (pixels of the input)';
function draw2d(f) {
  const [w, h] = data.image_size, W = canvas2d.width, H = canvas2d.height, s = Math.min(W / w, H / h);
  const ox = (W - w * s) / 2, oy = (H - h * s) / 2;
  ctx2d.fillStyle = '#eee';
  ctx2d.fillRect(0, 0, W, H);
  ctx2d.fillStyle = '#fff';
  ctx2d.fillRect(ox, oy, w * s, h * s);
  const shown = videoFrames.filter((v) => v <= f).at(-1);
  if (shown !== undefined && images[shown].complete) ctx2d.drawImage(images[shown], ox, oy, w * s, h * s);
  data.people.forEach((p) => {
    const q = jointsAt(p, f, 'keypoints', 2);
    if (!q) return;
    ctx2d.strokeStyle = ctx2d.fillStyle = p.colour;
    ctx2d.lineWidth = 2.5;
    for (const [s0, e0] of bones) {
      ctx2d.beginPath();
      ctx2d.moveTo(ox + q[2 * s0] * s, oy + q[2 * s0 + 1] * s);
      ctx2d.lineTo(ox + q[2 * e0] * s, oy + q[2 * e0 + 1] * s);
      ctx2d.stroke();
    }
    for (let j = 0; j < J; j++) ctx2d.fillRect(ox + q[2 * j] * s - 2, oy + q[2 * j + 1] * s - 2, 4, 4);
  });
}

// --- angle plots: one group at a time, every person in their colour (left side dashed), a cursor at now ---
const group = $('group'), plot = $('plot'), ctxPlot = plot.getContext('2d');
group.innerHTML = Object.keys(data.groups).map((g) => `<option>${g}</option>`).join('');
group.value = data.default_group;
group.addEventListener('change', () => draw());
const time = (f) => f / data.fps;
const plotBox = () => ({ l: 44, r: plot.width - 8, t: 8, b: plot.height - 22 });
function drawPlot(f) {
  const names = data.groups[group.value], box = plotBox();
  const series = [];
  data.people.forEach((p) => names.forEach((n) => {
    const v = p.angles[n];
    if (v && v.some((x) => x !== null)) series.push({ p, n, v });
  }));
  const values = series.flatMap((s) => s.v.filter((x) => x !== null));
  const lo = Math.floor((Math.min(...values, 0) - 5) / 10) * 10, hi = Math.ceil((Math.max(...values, 0) + 5) / 10) * 10;
  const X = (t) => box.l + (box.r - box.l) * (t - time(first)) / Math.max(time(last) - time(first), 1e-9);
  const Y = (v) => box.b - (box.b - box.t) * (v - lo) / (hi - lo);
  ctxPlot.clearRect(0, 0, plot.width, plot.height);
  ctxPlot.font = '11px sans-serif';
  ctxPlot.fillStyle = '#666';
  ctxPlot.strokeStyle = '#ddd';
  ctxPlot.lineWidth = 1;
  for (let v = lo; v <= hi; v += (hi - lo > 100 ? 30 : 10)) {
    ctxPlot.beginPath(); ctxPlot.moveTo(box.l, Y(v)); ctxPlot.lineTo(box.r, Y(v)); ctxPlot.stroke();
    ctxPlot.fillText(`${v}°`, 4, Y(v) + 4);
  }
  ctxPlot.fillText(`${time(first).toFixed(1)} s`, box.l, plot.height - 6);
  ctxPlot.fillText(`${time(last).toFixed(1)} s`, box.r - 40, plot.height - 6);
  for (const { p, n, v } of series) {
    ctxPlot.strokeStyle = p.colour;
    ctxPlot.lineWidth = 1.5;
    ctxPlot.setLineDash(n.startsWith('left_') ? [5, 3] : []);
    ctxPlot.beginPath();
    let pen = false;
    v.forEach((x, i) => {
      if (x === null) { pen = false; return; }
      const px = X(time(p.first + i)), py = Y(x);
      if (pen) ctxPlot.lineTo(px, py); else ctxPlot.moveTo(px, py);
      pen = true;
    });
    ctxPlot.stroke();
  }
  ctxPlot.setLineDash([]);
  ctxPlot.strokeStyle = '#000';
  ctxPlot.beginPath(); ctxPlot.moveTo(X(time(f)), box.t); ctxPlot.lineTo(X(time(f)), box.b); ctxPlot.stroke();
  const missing = names.filter((n) => data.unavailable[n]).map((n) => `${n}: ${data.unavailable[n]}`);
  $('group-note').textContent = series.length ? names.map((n) => n.replace(/_/g, ' ')).join(', ') + ' (left dashed)'
    : `missing: ${missing.join('; ') || 'not measured in any frame'}`;
  return series.length;
}
plot.addEventListener('click', (e) => {
  const box = plotBox(), r = plot.getBoundingClientRect();
  const x = (e.clientX - r.left) * plot.width / r.width;
  setFrame(Math.round(first + (last - first) * (x - box.l) / (box.r - box.l)));
});

// --- time: slider, play / pause, the frame in the address (#frame=N) ---
const slider = $('slider');
slider.min = first;
slider.max = last;
slider.addEventListener('input', () => setFrame(Number(slider.value)));
function setFrame(f) { frame = Math.min(last, Math.max(first, f)); draw(); }
$('play').addEventListener('click', () => { playing = !playing; $('play').textContent = playing ? 'pause' : 'play'; tick.last = null; });
function tick(now) {
  if (playing) {
    if (tick.last != null) {
      tick.carry = (tick.carry || 0) + (now - tick.last) / 1000 * data.fps;
      const step = Math.floor(tick.carry);
      tick.carry -= step;
      if (step) setFrame(frame + step >= last ? first : frame + step);
    }
    tick.last = now;
  }
  requestAnimationFrame(tick);
}

function resize() {
  for (const c of [canvas3d, canvas2d, plot]) { c.width = c.clientWidth; c.height = c.clientHeight; }
  renderer.setSize(canvas3d.width, canvas3d.height, false);
  camera.aspect = canvas3d.width / canvas3d.height;
  camera.updateProjectionMatrix();
  draw();
}
function draw() {
  slider.value = frame;
  $('time').textContent = `frame ${frame} · ${time(frame).toFixed(2)} s`;
  pose3d(frame);
  placeCamera();
  renderer.render(scene, camera);
  draw2d(frame);
  const plotted = drawPlot(frame);
  const r = canvas3d.getBoundingClientRect();
  camera.updateMatrixWorld();
  $('status').textContent = JSON.stringify({
    ready: true, errors, frame, plotted, canvas: [r.left, r.top, r.width, r.height],
    view: camera.matrixWorldInverse.elements, projection: camera.projectionMatrix.elements });
}
window.addEventListener('resize', resize);
const start = /frame=(\d+)/.exec(location.hash);
frame = start ? Math.min(last, Math.max(first, Number(start[1]))) : first;
await Promise.all(Object.values(images).map((im) => im.decode().catch(() => {})));
resize();
requestAnimationFrame(tick);
