// Zabbix webhook media type: posts a problem or recovery event to custody's ingest endpoint.
//
// Media type parameters (Zabbix 6.0: Administration > Media types > Webhook):
//   url      https://custody.example.net/ingest/zabbix/<source name>
//   token    the source's bearer token (shown once when the source is created)
//   event_id {EVENT.ID}          subject  {ALERT.SUBJECT}     message {ALERT.MESSAGE}
//   severity {EVENT.SEVERITY}    status   {EVENT.STATUS}      host    {HOST.NAME}
//   client   (optional) the custody client name, when the source serves several clients
// custody pseudonymizes host names, addresses and names before anything is stored or mailed.
var params = JSON.parse(value);
if (!params.url || !params.token) {
    throw 'custody webhook: url and token parameters are required';
}
var body = {
    event_id: String(params.event_id || ''),
    subject: params.subject || '',
    message: params.message || '',
    severity: params.severity || '',
    status: params.status || 'PROBLEM',
    host: params.host || ''
};
if (params.client) {
    body.client = params.client;
}
var request = new HttpRequest();
request.addHeader('Content-Type: application/json');
request.addHeader('Authorization: Bearer ' + params.token);
var response = request.post(params.url, JSON.stringify(body));
var status = request.getStatus();
if (status !== 202) {
    throw 'custody webhook: HTTP ' + status + ': ' + response;
}
return 'OK';
