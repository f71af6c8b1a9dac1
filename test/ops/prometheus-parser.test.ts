import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../libs/metrics/index.js';
import { parsePrometheusText, samplesOf, valueOf } from '../support/prometheus.js';

describe('parsePrometheusText', () => {
  it('reads families, types, help, escaped label values and histogram samples', () => {
    const families = parsePrometheusText(
      [
        '# HELP a_total Things \\\\ counted\\nacross lines',
        '# TYPE a_total counter',
        'a_total{x="1",y="quote \\" backslash \\\\ newline \\n"} 3',
        'a_total{x="2"} 4.5 1700000000000',
        '# TYPE h histogram',
        'h_bucket{le="0.1"} 1',
        'h_bucket{le="+Inf"} 2',
        'h_sum 0.3',
        'h_count 2',
        '# TYPE g gauge',
        'g NaN',
        '',
      ].join('\n'),
    );
    expect(families.get('a_total')).toMatchObject({ type: 'counter', help: 'Things \\ counted\nacross lines' });
    expect(samplesOf(families, 'a_total', { x: '1' })[0]!.labels.y).toBe('quote " backslash \\ newline \n');
    expect(valueOf(families, 'a_total')).toBe(7.5);
    expect(families.get('h')!.samples.map((s) => s.name)).toEqual(['h_bucket', 'h_bucket', 'h_sum', 'h_count']);
    expect(samplesOf(families, 'h_bucket', { le: '+Inf' })[0]!.value).toBe(2);
    expect(Number.isNaN(valueOf(families, 'g'))).toBe(true);
  });

  it('rejects what is not the text format', () => {
    expect(() => parsePrometheusText('# TYPE a counter\na{x=1} 2')).toThrow(/bad labels/);
    expect(() => parsePrometheusText('# TYPE a counter\na{x="1"} two')).toThrow(/bad value/);
    expect(() => parsePrometheusText('b 1')).toThrow(/without a # TYPE/);
    expect(() => parsePrometheusText('# TYPE a counter\na{x="1",x="2"} 1')).toThrow(/bad labels/);
  });

  it('reads everything prom-client writes', async () => {
    const metrics = createMetrics('gateway');
    metrics.httpRequests.inc({ route: 'file', method: 'GET', status: '200' });
    metrics.httpDuration.observe({ route: 'file', method: 'GET', status_class: '2xx' }, 0.02);
    const families = parsePrometheusText(await metrics.registry.metrics());
    expect(valueOf(families, 'orchard_http_requests_total', { route: 'file', status: '200', service: 'gateway' })).toBe(1);
    expect(valueOf(families, 'orchard_http_request_duration_seconds_count', { route: 'file', status_class: '2xx' })).toBe(1);
    expect(families.get('process_cpu_user_seconds_total')?.type).toBe('counter');
  });
});
