import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signRpc } from './aliyun.js';

test('the RPC signature reproduces the Alibaba Cloud documentation example (DescribeRegions)', () => {
  const body = signRpc(
    'GET',
    {
      AccessKeyId: 'testid',
      Action: 'DescribeRegions',
      Format: 'XML',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
      SignatureVersion: '1.0',
      Timestamp: '2016-02-23T12:46:24Z',
      Version: '2014-05-26',
    },
    'testsecret',
  );
  assert.equal(new URLSearchParams(body).get('Signature'), 'OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
});
