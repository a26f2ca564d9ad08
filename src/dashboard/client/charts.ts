// Time-series charts with uPlot. Each chart is created once per endpoint page and then only fed new
// data, so refreshes do not rebuild the canvas or move the layout. Target lines are drawn as flat
// dashed series so they appear in the legend with their value.
import uPlot from 'uplot';

export interface LineSpec {
  readonly label: string;
  readonly color: string;
  readonly dash?: number[];
  readonly width?: number;
}

export class Chart {
  readonly #plot: uPlot;
  readonly #el: HTMLElement;
  /** Moments drawn as thin vertical lines over the plot (failovers), epoch ms. */
  #markersMs: readonly number[] = [];

  constructor(el: HTMLElement, unit: string, lines: readonly LineSpec[]) {
    this.#el = el;
    const opts: uPlot.Options = {
      width: Math.max(320, el.clientWidth),
      height: 220,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{}, { label: unit, size: 60 }],
      hooks: { draw: [(u) => this.#drawMarkers(u)] },
      series: [
        {},
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: l.width ?? 2,
          ...(l.dash ? { dash: l.dash } : {}),
          spanGaps: false,
          // Data points are dotted so a lone minute with traffic is visible; target lines are not.
          points: { show: !l.dash, size: 4 },
        })),
      ],
    };
    this.#plot = new uPlot(opts, [[], ...lines.map(() => [])], el);
  }

  /** xs in epoch ms; one array per line, null where there is no data. */
  setData(xsMs: readonly number[], ys: readonly (readonly (number | null)[])[]): void {
    this.#plot.setData([xsMs.map((x) => x / 1000), ...ys.map((y) => [...y])] as uPlot.AlignedData);
    this.#showLatest(ys);
  }

  /**
   * The legend shows the newest point that has data while the cursor is off the chart, so its
   * values are filled in ('P95: 523'), not '--' until someone hovers.
   */
  #showLatest(ys: readonly (readonly (number | null)[])[]): void {
    let idx = -1;
    for (const y of ys) for (let i = y.length - 1; i > idx; i--) if (y[i] !== null) idx = i;
    if (idx >= 0) this.#plot.setLegend({ idx });
  }

  /** Vertical markers at these moments (a failover away from this endpoint), with a count in the DOM. */
  setMarkers(atMs: readonly number[]): void {
    this.#markersMs = atMs;
    this.#el.setAttribute('data-markers', String(atMs.length));
    this.#plot.redraw(false, false);
  }

  #drawMarkers(u: uPlot): void {
    if (this.#markersMs.length === 0) return;
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = 'rgba(207, 34, 46, 0.6)';
    ctx.lineWidth = Math.max(1, devicePixelRatio);
    ctx.setLineDash([4, 3]);
    for (const ms of this.#markersMs) {
      const x = u.valToPos(ms / 1000, 'x', true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  }

  resize(): void {
    this.#plot.setSize({ width: Math.max(320, this.#el.clientWidth), height: 220 });
  }

  destroy(): void {
    this.#plot.destroy();
  }
}
