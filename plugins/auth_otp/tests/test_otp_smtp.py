"""The code travels through the task queue to a real SMTP server."""

from commerce_kernel.mail import SMTPMailer


async def test_code_is_mailed_over_smtp_and_signs_in(
    kernel, otp, smtp_server, spawn, run_tasks, extract_code
):
    email = "smtp.user@example.com"
    if kernel.settings.redis_url:
        # Production shape: a real `commerce worker` process takes the job from Redis and
        # delivers it with its own SMTP settings.
        spawn("worker", env=smtp_server.settings)
        assert (await otp.request(email)).status_code == 202
        messages = await smtp_server.wait_for(1, timeout=30)
    else:
        # Embedded default: the in-process queue runs the job with this kernel's mailer,
        # pointed at the SMTP server for this test (its port is only known now).
        captured = kernel.mailer
        kernel.mailer = SMTPMailer(
            captured.default_from, "127.0.0.1", smtp_server.port, False, None, None
        )
        try:
            assert (await otp.request(email)).status_code == 202
            await run_tasks()
            messages = await smtp_server.wait_for(1, timeout=30)
        finally:
            kernel.mailer = captured
    message = messages[0]
    assert message["To"] == email
    assert message["Subject"] == "Your sign-in code"
    code = extract_code(message)
    r = await otp.login(email, code)
    assert r.status_code == 201, r.text
    assert r.json()["user"]["email"] == email


async def test_a_refused_delivery_is_retried(kernel, otp, smtp_server, run_tasks, extract_code):
    email = "retry.user@example.com"
    captured = kernel.mailer
    kernel.mailer = SMTPMailer(
        captured.default_from, "127.0.0.1", smtp_server.port, False, None, None
    )
    smtp_server.refuse(1)
    try:
        assert (await otp.request(email)).status_code == 202
        await run_tasks()
        messages = await smtp_server.wait_for(1, timeout=30)
    finally:
        kernel.mailer = captured
    assert smtp_server.attempts == 2
    assert (await otp.login(email, extract_code(messages[0]))).status_code == 201
